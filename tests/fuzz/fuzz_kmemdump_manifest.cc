// Fuzz target: kcorefs-regions.json. Accepted manifests have an id per region, file names
// without '/', sha256 values of 64 lowercase hex digits, and paddr + size that do not wrap.
#include <cstddef>
#include <cstdint>

#include "backends/kmemdump/region_parsers.h"
#include "tests/fuzz/fuzz_check.h"

namespace km = kcorefs::backends::kmemdump;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = km::ParseManifest(text, "fuzz");
  if (!m.ok()) return 0;
  for (const km::RegionSpec& s : m->regions) {
    KCOREFS_FUZZ_CHECK(s.id.has_value());
    KCOREFS_FUZZ_CHECK(s.file.find('/') == std::string::npos);
    if (s.sha256) {
      KCOREFS_FUZZ_CHECK(s.sha256->size() == 64);
      for (char c : *s.sha256) KCOREFS_FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    if (s.paddr && s.size) KCOREFS_FUZZ_CHECK(*s.paddr + *s.size >= *s.paddr);
  }
  return 0;
}
