// The block index of an AVML compressed memory image (AVML's default output, format
// version 2). Each block is a 32-byte header like LiME's (magic "AVML", little-endian
// 0x4C4D5641, version 2, first and last physical address, 8 zero bytes), the block's bytes
// as a snappy framing-format stream, and a little-endian u64 giving the stream's length.
// AVML writes blocks of at most 16 MiB and leaves all-zero blocks out. The index records
// every chunk of every stream (at most 64 KiB of memory each), so a read decompresses only
// the chunks it touches. Indexed once at open by reading chunk headers; nothing is copied.
#ifndef KCOREFS_BACKENDS_AVML_AVML_INDEX_H_
#define KCOREFS_BACKENDS_AVML_AVML_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::backends::avml {

inline constexpr uint32_t kAvmlMagic = 0x4C4D5641;
inline constexpr uint64_t kAvmlHeaderSize = 32;
// The framing format's limit on a chunk's uncompressed bytes.
inline constexpr uint64_t kMaxChunkBytes = 65536;

// One chunk of memory: `length` bytes at `offset` of the image's memory (the blocks'
// bytes laid end to end), from the chunk's payload in the file.
struct Chunk {
  uint64_t offset = 0;          // in the image's memory
  uint32_t length = 0;          // uncompressed bytes, 1..kMaxChunkBytes
  bool compressed = false;      // snappy-compressed (else stored)
  uint32_t masked_crc = 0;      // the framing format's masked CRC-32C of the bytes
  uint64_t file_offset = 0;     // the compressed (or stored) bytes, after the CRC
  uint32_t file_length = 0;
};

struct Block {
  uint64_t paddr = 0;   // first physical address
  uint64_t size = 0;    // bytes of memory indexed (less than the header claims in a cut file)
  uint64_t offset = 0;  // where they start in the image's memory
};

struct AvmlIndex {
  std::vector<Block> blocks;
  std::vector<Chunk> chunks;  // in memory order, covering [0, memory_size) exactly
  uint64_t memory_size = 0;
  std::vector<std::string> warnings;
};

// Reads the block headers and chunk headers of `file`. A bad header or chunk is an error
// naming its offset; a file cut inside a block keeps the chunks it holds whole, with a
// warning. The work is a few small reads per chunk, and every chunk takes at least 8 bytes
// of the file, so it is bounded by the file's size.
absl::StatusOr<AvmlIndex> ReadAvmlIndex(const io::ByteSource& file);

}  // namespace kcorefs::backends::avml

#endif  // KCOREFS_BACKENDS_AVML_AVML_INDEX_H_
