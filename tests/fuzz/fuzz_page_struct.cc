// Fuzz target: redact=user's reading of struct pages (src/kernel/page_classifier.cc). The
// input is VMCOREINFO text, a NUL, then struct page bytes: PageLayout::FromVmcoreinfo either
// refuses the layout or gives one whose every field lies inside a struct page; then each
// struct page (and the one after it, for the compound destructor) is parsed and classified
// without reading outside the input.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "kcorefs/kernel/page_classifier.h"
#include "kcorefs/kernel/vmcoreinfo.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kcorefs::kernel;
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  if (nul == nullptr) return 0;
  auto vi = Vmcoreinfo::Parse(std::string(reinterpret_cast<const char*>(data), nul - data));
  if (!vi.ok()) return 0;
  auto layout = PageLayout::FromVmcoreinfo(*vi);
  if (!layout.ok()) return 0;
  const PageLayout& l = *layout;
  KCOREFS_FUZZ_CHECK(l.struct_size >= 16 && l.struct_size <= 1024);
  for (uint64_t off : {l.off_flags, l.off_mapping, l.off_private, l.off_compound_head}) {
    KCOREFS_FUZZ_CHECK(off <= l.struct_size - 8);
  }
  KCOREFS_FUZZ_CHECK(l.off_mapcount <= l.struct_size - 4);
  absl::Span<const uint8_t> rest(nul + 1, size - (nul + 1 - data));
  for (size_t at = 0; at + l.struct_size <= rest.size(); at += l.struct_size) {
    absl::Span<const uint8_t> one = rest.subspan(at, l.struct_size);
    PageStruct p = PageStruct::Parse(l, one);
    absl::Span<const uint8_t> second = rest.subspan(at + l.struct_size);
    if (second.size() > l.struct_size) second = second.subspan(0, l.struct_size);
    (void)ClassifyHead(l, p, second);
  }
  return 0;
}
