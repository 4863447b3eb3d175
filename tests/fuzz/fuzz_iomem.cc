// Fuzz target: /proc/iomem text, from which the live backend takes the RAM ranges of a
// physical-memory device. Accepted ranges must be well-formed and must make a memory map
// the way the backend makes one (or be refused by it with an error, never a crash).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/live/live_backend.h"
#include "kcorefs/mem/memory_map.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto ranges = kcorefs::backends::ParseIomemSystemRam(text);
  if (!ranges.ok()) return 0;
  KCOREFS_FUZZ_CHECK(!ranges->empty());
  auto dev = std::make_shared<kcorefs::io::BufferByteSource>("fuzz-mem", std::string(64, '\0'));
  std::vector<kcorefs::mem::Segment> segs;
  for (const kcorefs::backends::IomemRange& r : *ranges) {
    KCOREFS_FUZZ_CHECK(r.first <= r.last);
    uint64_t size = r.last - r.first + 1;
    segs.push_back(kcorefs::mem::Segment{r.first, size, size, dev, r.first});
  }
  auto map = kcorefs::mem::MemoryMap::Create(std::move(segs), {});
  if (!map.ok()) return 0;
  for (const kcorefs::mem::Segment& s : map->physical()) {
    KCOREFS_FUZZ_CHECK(map->FindPhys(s.start) >= 0);
  }
  return 0;
}
