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
#include <memory>
#include <string>
#include <vector>

#include "kcorefs/base/checked_math.h"
#include "kcorefs/mem/memory_map.h"
#include "kernel/arch/aarch64_page_table.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using kcorefs::kernel::Arm64PageTable;

void CheckFound(const Arm64PageTable& pt, uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  auto first = pt.FirstMapped(begin, end);
  if (!first.ok() || !first->has_value()) return;
  uint64_t va = **first;
  KCOREFS_FUZZ_CHECK(va >= begin && va < end);
  KCOREFS_FUZZ_CHECK(pt.Translate(va).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint64_t kPage = 4096;
  kcorefs::fuzz::InputHeader h(data, size);
  const int va_bits = 36 + h.U8() % 13;
  uint64_t pages = kcorefs::base::AlignUp(size, kPage) / kPage;
  uint64_t top = (h.U16() % (pages + 1)) * kPage;
  uint64_t vaddr = h.U64();
  uint64_t begin = h.U64();
  uint64_t end = h.U64();

  auto mem = std::make_shared<kcorefs::io::BufferByteSource>(
      "fuzz-phys", std::string(reinterpret_cast<const char*>(data), size));
  std::vector<kcorefs::mem::Segment> segs;
  segs.push_back({0, 2 * pages * kPage, size, mem, 0});
  auto map = kcorefs::mem::MemoryMap::Create(std::move(segs), {});
  KCOREFS_FUZZ_CHECK(map.ok());

  Arm64PageTable pt(*map, top, va_bits);
  auto t = pt.Translate(vaddr);
  if (t.ok()) {
    KCOREFS_FUZZ_CHECK(t->page_size == 4096 || t->page_size == (2u << 20) || t->page_size == (1u << 30));
    KCOREFS_FUZZ_CHECK(t->paddr % t->page_size == vaddr % t->page_size);
  }
  CheckFound(pt, begin, end);
  // The kernel image's window: the top half, from the end of the linear map.
  CheckFound(pt, ~uint64_t{0} << (va_bits - 1), ~uint64_t{0});
  return 0;
}
