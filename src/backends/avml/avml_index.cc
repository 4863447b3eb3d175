#include "backends/avml/avml_index.h"

#include <snappy-c.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/byte_order.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::backends::avml {
namespace {

using base::Hex;

constexpr uint8_t kCompressed = 0x00;
constexpr uint8_t kStored = 0x01;
constexpr uint8_t kStreamId = 0xff;
constexpr char kStreamIdBody[] = "sNaPpY";

// Walks one block's snappy stream from `p`; returns how many of `claim` bytes of memory it
// indexed and leaves `p` past the last whole chunk. `cut` is set when the file ends first.
class StreamWalker {
 public:
  StreamWalker(const io::ByteSource& file, AvmlIndex& index) : file_(file), index_(index) {}

  absl::StatusOr<uint64_t> Walk(uint64_t& p, uint64_t claim, uint64_t memory_offset, bool& cut) {
    const uint64_t size = file_.size();
    uint64_t got = 0;
    cut = false;
    while (got < claim) {
      uint8_t h[16] = {};
      const uint64_t avail = std::min<uint64_t>(sizeof h, size - p);
      if (avail < 4) { cut = true; break; }
      KCOREFS_RETURN_IF_ERROR(file_.ReadAt(p, absl::MakeSpan(h, avail)));
      const uint8_t type = h[0];
      const uint32_t len = h[1] | h[2] << 8 | uint32_t{h[3]} << 16;
      if (!base::RangeWithin(p + 4, len, size)) { cut = true; break; }
      if (type == kStreamId) {
        if (len != 6 || std::memcmp(h + 4, kStreamIdBody, 6) != 0) return Bad(p, "a bad stream identifier");
      } else if (type == kCompressed || type == kStored) {
        if (len < 5) return Bad(p, absl::StrCat("a data chunk of ", len, " bytes (at least 5)"));
        size_t n = len - 4;
        if (type == kCompressed) {
          size_t prefix = std::min<size_t>(len - 4, avail - 8);
          if (snappy_uncompressed_length(reinterpret_cast<const char*>(h + 8), prefix, &n) != SNAPPY_OK) {
            return Bad(p, "a compressed chunk whose length prefix does not parse");
          }
        }
        if (n == 0 || n > kMaxChunkBytes) {
          return Bad(p, absl::StrCat("a chunk of ", n, " bytes of memory (1 to ", kMaxChunkBytes, ")"));
        }
        if (n > claim - got) {
          return Bad(p, absl::StrCat("a chunk that reaches past its block's ", claim, " bytes"));
        }
        index_.chunks.push_back(Chunk{memory_offset + got, static_cast<uint32_t>(n),
                                      type == kCompressed, base::LoadLe32(h + 4), p + 8, len - 4});
        got += n;
      } else if (type < 0x80) {
        return Bad(p, absl::StrCat("an unskippable reserved chunk type ", Hex(type)));
      }  // 0x80..0xfe: skippable (padding included)
      p += 4 + len;
    }
    return got;
  }

 private:
  absl::Status Bad(uint64_t p, absl::string_view what) const {
    return absl::DataLossError(absl::StrCat(file_.name(), ": the snappy stream has ", what,
                                            " at offset ", Hex(p), ": the AVML image is corrupt"));
  }
  const io::ByteSource& file_;
  AvmlIndex& index_;
};

}  // namespace

absl::StatusOr<AvmlIndex> ReadAvmlIndex(const io::ByteSource& file) {
  AvmlIndex index;
  const uint64_t size = file.size();
  StreamWalker walker(file, index);
  uint64_t off = 0;
  while (off < size) {
    if (size - off < kAvmlHeaderSize) {
      index.warnings.push_back(absl::StrCat(file.name(), ": ", size - off, " trailing bytes at offset ",
                                            Hex(off), " are not a whole AVML block header; ignored"));
      break;
    }
    uint8_t h[kAvmlHeaderSize];
    KCOREFS_RETURN_IF_ERROR(file.ReadAt(off, absl::MakeSpan(h, sizeof h)));
    const uint32_t magic = base::LoadLe32(h), version = base::LoadLe32(h + 4);
    const uint64_t first = base::LoadLe64(h + 8), last = base::LoadLe64(h + 16);
    if (magic != kAvmlMagic || version != 2) {
      return absl::DataLossError(absl::StrCat(
          file.name(), ": no AVML block header at offset ", Hex(off), " (magic ", Hex(magic),
          " version ", version, ", expected ", Hex(kAvmlMagic), " version 2): the file is corrupt"));
    }
    if (base::LoadLe64(h + 24) != 0 || last < first || last == UINT64_MAX) {
      return absl::DataLossError(absl::StrCat(
          file.name(), ": the AVML block header at offset ", Hex(off), " claims physical [",
          Hex(first), ", ", Hex(last), "] with padding ", Hex(base::LoadLe64(h + 24)),
          ": its end is before its start, or its padding is not zero"));
    }
    const uint64_t claim = last - first + 1;
    uint64_t p = off + kAvmlHeaderSize;
    bool cut = false;
    KCOREFS_ASSIGN_OR_RETURN(uint64_t got, walker.Walk(p, claim, index.memory_size, cut));
    if (got > 0) index.blocks.push_back(Block{first, got, index.memory_size});
    index.memory_size += got;
    if (cut || size - p < 8) {
      index.warnings.push_back(absl::StrCat(
          file.name(), " is truncated: the AVML block at physical ", Hex(first), " claims ",
          Hex(claim), " bytes, the file holds ", Hex(got), " of them whole; the rest is not present"));
      break;
    }
    uint8_t t[8];
    KCOREFS_RETURN_IF_ERROR(file.ReadAt(p, absl::MakeSpan(t, sizeof t)));
    // Skippable chunks (padding) may follow the last data chunk: the stream ends where its
    // length says. Each step passes one chunk, so this too is bounded by the file.
    while (base::LoadLe64(t) != p - (off + kAvmlHeaderSize) && t[0] >= 0x80) {
      const uint64_t next = p + 4 + (t[1] | t[2] << 8 | uint64_t{t[3]} << 16);
      if (next > size - 8) break;
      p = next;
      KCOREFS_RETURN_IF_ERROR(file.ReadAt(p, absl::MakeSpan(t, sizeof t)));
    }
    const uint64_t stream = p - (off + kAvmlHeaderSize);
    if (base::LoadLe64(t) != stream) {
      return absl::DataLossError(absl::StrCat(
          file.name(), ": the AVML block at offset ", Hex(off), " (physical ", Hex(first),
          ") ends with a stream length of ", base::LoadLe64(t), ", its stream is ", stream,
          " bytes: the file is corrupt"));
    }
    off = p + 8;
  }
  if (index.blocks.empty()) {
    return absl::DataLossError(absl::StrCat(file.name(), ": the AVML image holds no memory"));
  }
  return index;
}

}  // namespace kcorefs::backends::avml
