// Shared by the page-table fuzz targets (fuzz_page_table for x86_64, fuzz_page_table_arm64):
// the input as physical memory, and the invariants every PageTableWalker keeps.
#ifndef KCOREFS_TESTS_FUZZ_FUZZ_PAGE_WALK_H_
#define KCOREFS_TESTS_FUZZ_FUZZ_PAGE_WALK_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kcorefs/base/checked_math.h"
#include "kcorefs/kernel/page_table_walker.h"
#include "kcorefs/mem/memory_map.h"
#include "tests/fuzz/fuzz_check.h"

namespace kcorefs::fuzz {

inline constexpr uint64_t kPage = 4096;

// The input as physical memory from address 0, followed by as much again of zeros (tables
// may point past what the input holds).
inline mem::MemoryMap PhysFromInput(const uint8_t* data, size_t size) {
  const uint64_t pages = base::AlignUp(size, kPage) / kPage;
  auto bytes = std::make_shared<io::BufferByteSource>(
      "fuzz-phys", std::string(reinterpret_cast<const char*>(data), size));
  std::vector<mem::Segment> segs;
  segs.push_back({0, 2 * pages * kPage, size, bytes, 0});
  auto map = mem::MemoryMap::Create(std::move(segs), {});
  KCOREFS_FUZZ_CHECK(map.ok());
  return std::move(*map);
}

// A translation, when there is one, has a page size the walkers know and keeps the
// address's offset in its page.
inline void CheckTranslate(const kernel::PageTableWalker& pt, uint64_t vaddr) {
  auto t = pt.Translate(vaddr);
  if (!t.ok()) return;
  KCOREFS_FUZZ_CHECK(t->page_size == 4096 || t->page_size == (2u << 20) || t->page_size == (1u << 30));
  KCOREFS_FUZZ_CHECK(t->paddr % t->page_size == vaddr % t->page_size);
}

// What FirstMapped finds lies in the range and translates. (An empty range, begin >= end,
// is not asked: every caller passes a constant window.)
inline void CheckFound(const kernel::PageTableWalker& pt, uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  auto first = pt.FirstMapped(begin, end);
  if (!first.ok() || !first->has_value()) return;
  const uint64_t va = **first;
  KCOREFS_FUZZ_CHECK(va >= begin && va < end);
  KCOREFS_FUZZ_CHECK(pt.Translate(va).ok());
}

}  // namespace kcorefs::fuzz

#endif  // KCOREFS_TESTS_FUZZ_FUZZ_PAGE_WALK_H_
