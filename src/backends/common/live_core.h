// A live ELF core: /proc/kcore read in place (live backend) or over the network (an NBD
// export of it). fs/proc/kcore.c rebuilds its header when the kernel's kclist changes
// (memory hotplug), so the layout is compared on every Current() and a change is a new
// epoch; open handles keep the epoch they opened.
#ifndef KCOREFS_BACKENDS_COMMON_LIVE_CORE_H_
#define KCOREFS_BACKENDS_COMMON_LIVE_CORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kcorefs/backends/snapshot.h"
#include "kcorefs/io/byte_source.h"
#include "kcorefs/kernel/kernel_facts.h"

namespace kcorefs::backends {

class LiveElfCore {
 public:
  // The core's current size: st_size for a file, the export size for NBD.
  using SizeFn = std::function<absl::StatusOr<uint64_t>()>;

  // `format` names the source in `info` ("live /proc/kcore"); `bytes` is read for the
  // layout and becomes the snapshot's segments' source.
  // `timeout` bounds the layout read of each Current() (a remote that stalls must fail an
  // open, not hang it); infinite for a local file.
  LiveElfCore(std::string source, std::string format, std::shared_ptr<const io::ByteSource> bytes,
              SizeFn size, kernel::DeriveOptions derive,
              absl::Duration timeout = absl::InfiniteDuration())
      : source_(std::move(source)), format_(std::move(format)), bytes_(std::move(bytes)),
        size_fn_(std::move(size)), derive_(std::move(derive)), timeout_(timeout) {}

  // The snapshot of the current layout: the last one while the size and the ELF and
  // program headers are unchanged, else a new one with the next epoch. Thread-safe.
  absl::StatusOr<std::shared_ptr<const Snapshot>> Current();

 private:
  const std::string source_;
  const std::string format_;
  const std::shared_ptr<const io::ByteSource> bytes_;
  const SizeFn size_fn_;
  const kernel::DeriveOptions derive_;
  const absl::Duration timeout_;
  absl::Mutex mu_;
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  std::string layout_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Snapshot> snap_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_COMMON_LIVE_CORE_H_
