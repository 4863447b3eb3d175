#include "backends/lime/lime_index.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/byte_order.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::backends::lime {
namespace {

using base::Hex;


}  // namespace

absl::StatusOr<LimeIndex> ReadLimeIndex(const io::ByteSource& file, uint64_t size) {
  LimeIndex index;
  uint64_t off = 0;
  while (off < size) {
    if (size - off < kLimeHeaderSize) {
      index.warnings.push_back(absl::StrCat(file.name(), ": ", size - off,
                                            " trailing bytes at offset ", Hex(off),
                                            " are not a whole LiME range header; ignored"));
      break;
    }
    uint8_t h[kLimeHeaderSize];
    KCOREFS_RETURN_IF_ERROR(file.ReadAt(off, absl::MakeSpan(h, sizeof h)));
    uint32_t magic = base::LoadLe32(h), version = base::LoadLe32(h + 4);
    uint64_t first = base::LoadLe64(h + 8), last = base::LoadLe64(h + 16);
    if (magic != kLimeMagic) {
      return absl::DataLossError(absl::StrCat(
          file.name(), ": no LiME range header at offset ", Hex(off), " (magic ", Hex(magic),
          ", expected ", Hex(kLimeMagic), "): the file is corrupt or not a LiME image"));
    }
    if (version != 1) {
      return absl::UnimplementedError(absl::StrCat(file.name(), ": LiME range header at offset ",
                                                   Hex(off), " has version ", version,
                                                   "; kcorefs reads version 1"));
    }
    if (last < first || last == UINT64_MAX) {
      return absl::DataLossError(absl::StrCat(
          file.name(), ": LiME range header at offset ", Hex(off), " claims physical [",
          Hex(first), ", ", Hex(last), "]: its end is before its start"));
    }
    LimeRange r{first, last - first + 1, 0, off + kLimeHeaderSize};
    uint64_t held = size - r.file_offset;  // r.file_offset <= size: checked above
    r.data_size = std::min(r.size, held);
    if (r.data_size < r.size) {
      index.warnings.push_back(absl::StrCat(
          file.name(), " is truncated: the LiME range at physical ", Hex(first), " claims ",
          Hex(r.size), " bytes from offset ", Hex(r.file_offset), ", the file holds ",
          Hex(r.data_size), "; the rest is not present"));
      r.size = r.data_size;
    }
    if (r.size > 0) index.ranges.push_back(r);
    off = r.file_offset + r.data_size;
    if (r.data_size == 0) break;
  }
  if (index.ranges.empty()) {
    return absl::DataLossError(absl::StrCat(file.name(), ": the LiME image holds no memory range"));
  }
  return index;
}

}  // namespace kcorefs::backends::lime
