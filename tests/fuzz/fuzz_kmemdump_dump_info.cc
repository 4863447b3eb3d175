// Fuzz target: dump_info.txt and load.cmm texts (the same input is given to both), and
// region file names (each line). Accepted regions must have printable names and files,
// no '/' in a file name, and a paddr + size that does not wrap.
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_split.h"
#include "backends/kmemdump/region_parsers.h"
#include "tests/fuzz/fuzz_check.h"

namespace km = kcorefs::backends::kmemdump;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto r = km::ParseDumpInfo(text, "fuzz"); r.ok()) {
    for (const km::RegionSpec& s : *r) {
      KCOREFS_FUZZ_CHECK(s.paddr && s.size && *s.paddr + *s.size >= *s.paddr);
      KCOREFS_FUZZ_CHECK(s.file.find('/') == std::string::npos && !s.file.empty());
    }
  }
  if (auto r = km::ParseLoadCmm(text, "fuzz"); r.ok()) {
    for (const km::RegionSpec& s : *r) {
      KCOREFS_FUZZ_CHECK(s.paddr.has_value() && !s.file.empty());
      KCOREFS_FUZZ_CHECK(s.file.find_first_of("/\\") == std::string::npos);
    }
  }
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (auto n = km::ParseRegionFileName(line)) {
      KCOREFS_FUZZ_CHECK(!n->name.empty() && n->name.size() + 8 < line.size() + 1);
    }
  }
  return 0;
}
