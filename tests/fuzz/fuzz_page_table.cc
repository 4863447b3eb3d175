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

#include "kernel/arch/x86_64_page_table.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_page_walk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kcorefs::fuzz::kPage;
  kcorefs::fuzz::InputHeader h(data, size);
  uint8_t flags = h.U8();
  uint64_t pages = (size + kPage - 1) / kPage;
  uint64_t top = (h.U16() % (pages + 1)) * kPage;
  uint64_t vaddr = h.U64();
  uint64_t begin = h.U64();
  uint64_t end = h.U64();
  uint64_t sme = (flags & 2) ? h.U64() : 0;
  bool five = flags & 1;

  kcorefs::mem::MemoryMap map = kcorefs::fuzz::PhysFromInput(data, size);
  kcorefs::kernel::X86PageTable pt(map, top, five, sme);
  kcorefs::fuzz::CheckTranslate(pt, vaddr);
  kcorefs::fuzz::CheckFound(pt, begin, end);
  // The direct-map window DeriveKernelFacts walks (arch/x86/mm/kaslr.c's bounds).
  kcorefs::fuzz::CheckFound(pt, five ? 0xff11000000000000ull : 0xffff888000000000ull, 0xfffffe0000000000ull);
  return 0;
}
