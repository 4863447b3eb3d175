// Fuzz target: the x86_64 page-table walker over untrusted tables. The input is physical
// memory from address 0 (followed by as much again of zeros); its first bytes also choose
// the walk:
//   byte 0        bit 0: 5-level paging; bit 1: apply an SME mask
//   bytes 1-2     top-level table, as a page number (modulo the pages held, plus one
//                 page outside them)
//   bytes 3-10    an address to translate
//   bytes 11-18   begin of a FirstMapped range; bytes 19-26 its end
//   bytes 27-34   the SME mask
// Besides those, FirstMapped runs over the direct-map window as DeriveKernelFacts walks it,
// so tables that point at each other (or at themselves) are walked the way a hostile dump
// would have them walked.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kcorefs/base/checked_math.h"
#include "kernel/arch/x86_64_page_table.h"
#include "kcorefs/mem/memory_map.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using kcorefs::kernel::X86PageTable;

// What FirstMapped found must lie in the range and translate. (An empty range, begin >=
// end, is not asked: every caller passes a constant window.)
void CheckFound(const X86PageTable& pt, uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  auto first = pt.FirstMapped(begin, end);
  if (!first.ok() || !first->has_value()) return;
  uint64_t va = **first;
  KCOREFS_FUZZ_CHECK(va >= begin && va < end);
  auto t = pt.Translate(va);
  KCOREFS_FUZZ_CHECK(t.ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint64_t kPage = 4096;
  kcorefs::fuzz::InputHeader h(data, size);
  uint8_t flags = h.U8();
  uint64_t pages = kcorefs::base::AlignUp(size, kPage) / kPage;
  uint64_t top = (h.U16() % (pages + 1)) * kPage;
  uint64_t vaddr = h.U64();
  uint64_t begin = h.U64();
  uint64_t end = h.U64();
  uint64_t sme = (flags & 2) ? h.U64() : 0;
  bool five = flags & 1;

  auto mem = std::make_shared<kcorefs::io::BufferByteSource>(
      "fuzz-phys", std::string(reinterpret_cast<const char*>(data), size));
  std::vector<kcorefs::mem::Segment> segs;
  segs.push_back({0, 2 * pages * kPage, size, mem, 0});
  auto map = kcorefs::mem::MemoryMap::Create(std::move(segs), {});
  KCOREFS_FUZZ_CHECK(map.ok());

  X86PageTable pt(*map, top, five, sme);
  auto t = pt.Translate(vaddr);
  if (t.ok()) {
    KCOREFS_FUZZ_CHECK(t->page_size == 4096 || t->page_size == (2u << 20) || t->page_size == (1u << 30));
    KCOREFS_FUZZ_CHECK(t->paddr % t->page_size == vaddr % t->page_size);
  }
  CheckFound(pt, begin, end);
  // The direct-map window DeriveKernelFacts walks (arch/x86/mm/kaslr.c's bounds).
  CheckFound(pt, five ? 0xff11000000000000ull : 0xffff888000000000ull, 0xfffffe0000000000ull);
  return 0;
}
