// Fuzz target: a LiME image's range headers (src/backends/lime/lime_index.cc). Every range
// accepted lies inside the input, past its own header, and makes a memory map the way the
// backend makes one (or is refused with an error, never a crash).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/lime/lime_index.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/mem/memory_map.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kcorefs::backends::lime::LimeRange;
  auto file = std::make_shared<kcorefs::io::BufferByteSource>(
      "fuzz.lime", std::string(reinterpret_cast<const char*>(data), size));
  auto index = kcorefs::backends::lime::ReadLimeIndex(*file, size);
  if (!index.ok()) return 0;
  KCOREFS_FUZZ_CHECK(!index->ranges.empty());
  KCOREFS_FUZZ_CHECK(index->ranges.size() <= size / 33 + 1);
  std::vector<kcorefs::mem::Segment> segs;
  for (const LimeRange& r : index->ranges) {
    KCOREFS_FUZZ_CHECK(r.file_offset >= kcorefs::backends::lime::kLimeHeaderSize);
    KCOREFS_FUZZ_CHECK(kcorefs::base::RangeWithin(r.file_offset, r.data_size, size));
    KCOREFS_FUZZ_CHECK(r.data_size == r.size && r.size > 0);
    segs.push_back({r.paddr, r.size, r.data_size, file, r.file_offset});
  }
  auto map = kcorefs::mem::MemoryMap::Create(std::move(segs), {});
  if (!map.ok()) return 0;
  for (const kcorefs::mem::Segment& s : map->physical()) {
    uint8_t b;
    KCOREFS_FUZZ_CHECK(map->ReadPhys(s.start, absl::MakeSpan(&b, 1)).ok());
  }
  return 0;
}
