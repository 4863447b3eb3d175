#include "backends/kdump/kdump_source.h"

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"

namespace kcorefs::backends::kdump {

using base::Hex;

absl::Status KdumpSource::DoRead(uint64_t offset, absl::Span<uint8_t> out,
                                 absl::Time deadline) const {
  if (!base::RangeWithin(offset, out.size(), size_)) {
    return absl::OutOfRangeError(absl::StrCat(name(), ": physical range ", Hex(offset), "+",
                                              Hex(out.size()), " is past the dump's last page"));
  }
  if (deadline != io::NoDeadline() && absl::Now() > deadline) {
    return base::DeadlineError(absl::StrCat("read ", name(), " at physical ", Hex(offset),
                                            ": the deadline passed before the read started"));
  }
  auto lease = pool_->Acquire(deadline);
  if (!lease.ok()) return lease.status();
  size_t done = 0;
  while (done < out.size()) {
    size_t len = out.size() - done;
    kdump_status s = kdump_read(lease->get(), KDUMP_MACHPHYSADDR, offset + done,
                                out.data() + done, &len);
    done += len;
    if (s == KDUMP_OK) continue;
    uint64_t at = offset + done;
    if (s == KDUMP_ERR_NODATA) {
      // A page the dump does not hold. Views leave such pages out, so this is a read
      // across a gap (or a page the bitmap claims but the file lacks).
      return base::FaultError(at, absl::StrCat(name(), ": the page at physical ", Hex(at),
                                               " is not in the dump"));
    }
    return base::WithKind(
        KdumpError(lease->get(), s, name(), absl::StrCat("read the page at physical ", Hex(at))),
        base::ErrorKind::kPermanent);
  }
  CountRead(out.size());
  return absl::OkStatus();
}

}  // namespace kcorefs::backends::kdump
