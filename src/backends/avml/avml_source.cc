#include "backends/avml/avml_source.h"

#include <snappy-c.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::backends::avml {
namespace {

using base::Hex;

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? 0x82F63B78u ^ (c >> 1) : c >> 1;  // reflected 0x1EDC6F41
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

}  // namespace

uint32_t Crc32c(const uint8_t* data, size_t n) {
  uint32_t c = ~0u;
  for (size_t i = 0; i < n; ++i) c = kCrcTable[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

AvmlSource::AvmlSource(std::shared_ptr<const io::ByteSource> file, AvmlIndex index)
    : file_(std::move(file)), index_(std::move(index)), slots_(kCacheSlots) {}

uint64_t AvmlSource::chunks_decompressed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return decoded_;
}

uint64_t AvmlSource::PhysOf(uint64_t memory_offset) const {
  auto it = std::upper_bound(index_.blocks.begin(), index_.blocks.end(), memory_offset,
                             [](uint64_t o, const Block& b) { return o < b.offset; });
  if (it == index_.blocks.begin()) return 0;
  --it;
  return it->paddr + (memory_offset - it->offset);
}

absl::StatusOr<AvmlSource::Bytes> AvmlSource::Decode(size_t i, absl::Time deadline) const {
  const Chunk& c = index_.chunks[i];
  std::vector<uint8_t> payload(c.file_length);
  KCOREFS_RETURN_IF_ERROR(file_->ReadAt(c.file_offset, absl::MakeSpan(payload), deadline));
  auto out = std::make_shared<std::vector<uint8_t>>(c.length);
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(
        file_->name(), ": the chunk at offset ", Hex(c.file_offset - 8), " (physical ",
        Hex(PhysOf(c.offset)), ", ", c.length, " bytes) ", why,
        ": the AVML image is corrupt there; its other pages still read"));
  };
  if (c.compressed) {
    size_t n = out->size();
    if (snappy_uncompress(reinterpret_cast<const char*>(payload.data()), payload.size(),
                          reinterpret_cast<char*>(out->data()), &n) != SNAPPY_OK ||
        n != c.length) {
      return bad("does not decompress");
    }
  } else {
    std::memcpy(out->data(), payload.data(), c.length);
  }
  if (MaskCrc(Crc32c(out->data(), out->size())) != c.masked_crc) return bad("fails its CRC-32C");
  return Bytes(std::move(out));
}

absl::StatusOr<AvmlSource::Bytes> AvmlSource::ChunkBytes(size_t i, absl::Time deadline) const {
  Slot& slot = slots_[i % kCacheSlots];
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (slot.chunk == i) return slot.bytes;
  }
  // Decompressed outside the lock: FUSE threads decompress in parallel.
  KCOREFS_ASSIGN_OR_RETURN(Bytes b, Decode(i, deadline));
  std::lock_guard<std::mutex> lock(mu_);
  ++decoded_;
  slot.chunk = i;
  slot.bytes = b;
  return b;
}

absl::Status AvmlSource::DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const {
  if (!base::RangeWithin(offset, out.size(), size())) {
    return absl::OutOfRangeError(absl::StrCat(name(), ": read of ", out.size(), " bytes at ",
                                              Hex(offset), " past its ", size(), " bytes of memory"));
  }
  const auto& chunks = index_.chunks;
  // The chunk holding `offset`: chunks cover [0, size()) in order without gaps.
  size_t i = std::upper_bound(chunks.begin(), chunks.end(), offset,
                              [](uint64_t o, const Chunk& c) { return o < c.offset; }) -
             chunks.begin() - 1;
  size_t done = 0;
  while (done < out.size()) {
    const Chunk& c = chunks[i];
    KCOREFS_ASSIGN_OR_RETURN(Bytes b, ChunkBytes(i, deadline));
    const uint64_t at = offset + done - c.offset;
    const size_t n = std::min<uint64_t>(c.length - at, out.size() - done);
    std::memcpy(out.data() + done, b->data() + at, n);
    done += n;
    ++i;
  }
  return absl::OkStatus();
}

}  // namespace kcorefs::backends::avml
