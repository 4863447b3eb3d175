// The memory of an AVML image as one byte source: the blocks' bytes laid end to end
// (AvmlIndex's memory offsets), each read decompressing the chunks it touches. A chunk
// whose bytes do not decompress or do not match their CRC-32C fails the read (DataLoss,
// naming the file, the chunk and its physical address), never giving other bytes.
#ifndef KCOREFS_BACKENDS_AVML_AVML_SOURCE_H_
#define KCOREFS_BACKENDS_AVML_AVML_SOURCE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/avml/avml_index.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::backends::avml {

// CRC-32C (Castagnoli), as the snappy framing format masks it.
uint32_t Crc32c(const uint8_t* data, size_t n);
uint32_t MaskCrc(uint32_t crc);

class AvmlSource final : public io::ByteSource {
 public:
  // Decompressed chunks kept for small reads (crash's 4 KiB ones touch a chunk many times):
  // direct-mapped by chunk number, at most kCacheSlots * 64 KiB = 16 MiB.
  static constexpr size_t kCacheSlots = 256;

  AvmlSource(std::shared_ptr<const io::ByteSource> file, AvmlIndex index);
  uint64_t size() const override { return index_.memory_size; }
  const std::string& name() const override { return file_->name(); }
  uint64_t chunks_decompressed() const;

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const override;

 private:
  using Bytes = std::shared_ptr<const std::vector<uint8_t>>;
  absl::StatusOr<Bytes> ChunkBytes(size_t i, absl::Time deadline) const;
  absl::StatusOr<Bytes> Decode(size_t i, absl::Time deadline) const;
  uint64_t PhysOf(uint64_t memory_offset) const;

  const std::shared_ptr<const io::ByteSource> file_;
  const AvmlIndex index_;
  mutable std::mutex mu_;
  struct Slot {
    size_t chunk = SIZE_MAX;
    Bytes bytes;
  };
  mutable std::vector<Slot> slots_;
  mutable uint64_t decoded_ = 0;
};

}  // namespace kcorefs::backends::avml

#endif  // KCOREFS_BACKENDS_AVML_AVML_SOURCE_H_
