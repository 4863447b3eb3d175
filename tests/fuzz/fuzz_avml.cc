// Fuzz target: an AVML image's block and chunk index (src/backends/avml/avml_index.cc) and
// the decompression of its chunks (avml_source.cc). Every chunk indexed lies inside the
// input, the chunks cover the memory exactly, the index is bounded by the input's size, and
// reading every block either gives its bytes or fails with an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/avml/avml_index.h"
#include "backends/avml/avml_source.h"
#include "kcorefs/base/checked_math.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace avml = kcorefs::backends::avml;
  auto file = std::make_shared<kcorefs::io::BufferByteSource>(
      "fuzz.avml", std::string(reinterpret_cast<const char*>(data), size));
  auto index = avml::ReadAvmlIndex(*file);
  if (!index.ok()) return 0;
  KCOREFS_FUZZ_CHECK(!index->blocks.empty());
  KCOREFS_FUZZ_CHECK(index->chunks.size() <= size / 9 + 1);
  uint64_t at = 0;
  for (const avml::Chunk& c : index->chunks) {
    KCOREFS_FUZZ_CHECK(c.offset == at && c.length > 0 && c.length <= avml::kMaxChunkBytes);
    KCOREFS_FUZZ_CHECK(kcorefs::base::RangeWithin(c.file_offset, c.file_length, size));
    at += c.length;
  }
  KCOREFS_FUZZ_CHECK(at == index->memory_size);
  std::vector<avml::Block> blocks = index->blocks;
  avml::AvmlSource memory(file, std::move(*index));
  std::vector<uint8_t> buf;
  for (const avml::Block& b : blocks) {
    KCOREFS_FUZZ_CHECK(kcorefs::base::RangeWithin(b.offset, b.size, memory.size()));
    buf.resize(std::min<uint64_t>(b.size, 1 << 20));
    (void)memory.ReadAt(b.offset, absl::MakeSpan(buf));
  }
  return 0;
}
