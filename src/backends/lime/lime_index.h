// The range headers of a LiME memory image: each range is a 32-byte header (magic
// "EMiL" little-endian 0x4C694D45, version 1, first and last physical address, 8 reserved
// bytes) followed by the range's bytes. Indexed once at open; nothing is copied.
#ifndef KCOREFS_BACKENDS_LIME_LIME_INDEX_H_
#define KCOREFS_BACKENDS_LIME_LIME_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::backends::lime {

inline constexpr uint32_t kLimeMagic = 0x4C694D45;
inline constexpr uint64_t kLimeHeaderSize = 32;

struct LimeRange {
  uint64_t paddr = 0;        // first physical address
  uint64_t size = 0;         // bytes of address space the header claims
  uint64_t data_size = 0;    // bytes the file holds (less than size only in a cut file)
  uint64_t file_offset = 0;  // where the range's bytes start
};

struct LimeIndex {
  std::vector<LimeRange> ranges;
  std::vector<std::string> warnings;
};

// Reads the headers of `file` (its first `size` bytes). A bad header is an error naming
// its offset; a file cut inside a range keeps the part it holds, with a warning. The work
// is one header read per range, and each range takes at least 33 bytes of the file.
absl::StatusOr<LimeIndex> ReadLimeIndex(const io::ByteSource& file, uint64_t size);

}  // namespace kcorefs::backends::lime

#endif  // KCOREFS_BACKENDS_LIME_LIME_INDEX_H_
