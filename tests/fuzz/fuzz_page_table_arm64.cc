// Fuzz target: the aarch64 page-table walker (4 KiB granule) over untrusted tables. The
// input is physical memory from address 0 (followed by as much again of zeros); its first
// bytes also choose the walk:
//   byte 0        VA_BITS = 36 + (byte % 13): 3 or 4 levels, and a partial top level
//   bytes 1-2     top-level table (swapper_pg_dir), as a page number (modulo the pages
//                 held, plus one page outside them)
//   bytes 3-10    an address to translate
//   bytes 11-18   begin of a FirstMapped range; bytes 19-26 its end
// Besides those, FirstMapped runs over the kernel image's window as the aarch64 row walks
// it, so tables that point at each other (or at themselves) are walked the way a hostile
// dump would have them walked.
#include <cstddef>
#include <cstdint>

#include "kernel/arch/aarch64_page_table.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_page_walk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kcorefs::fuzz::kPage;
  kcorefs::fuzz::InputHeader h(data, size);
  const int va_bits = 36 + h.U8() % 13;
  uint64_t pages = (size + kPage - 1) / kPage;
  uint64_t top = (h.U16() % (pages + 1)) * kPage;
  uint64_t vaddr = h.U64();
  uint64_t begin = h.U64();
  uint64_t end = h.U64();

  kcorefs::mem::MemoryMap map = kcorefs::fuzz::PhysFromInput(data, size);
  kcorefs::kernel::Arm64PageTable pt(map, top, va_bits);
  kcorefs::fuzz::CheckTranslate(pt, vaddr);
  kcorefs::fuzz::CheckFound(pt, begin, end);
  // The kernel image's window: the top half, from the end of the linear map.
  kcorefs::fuzz::CheckFound(pt, ~uint64_t{0} << (va_bits - 1), ~uint64_t{0});
  return 0;
}
