// Builds x86_64 4- or 5-level page tables in a byte buffer that stands for physical memory
// starting at 0, for unit tests of the walker and of the facts derived from it.
#ifndef KCOREFS_TESTS_TESTING_PAGE_TABLES_H_
#define KCOREFS_TESTS_TESTING_PAGE_TABLES_H_

#include <cstdint>
#include <cstring>
#include <string>

namespace kcorefs::testing {

class PageTableBuilder {
 public:
  // `memory` is physical memory from address 0; tables are allocated from `next_table`.
  // `arm64`: VMSAv8-64 descriptors (4 KiB granule) instead of x86_64's; `base` is the
  // physical address `memory` starts at.
  PageTableBuilder(std::string* memory, uint64_t top, uint64_t next_table, int levels = 4,
                   bool arm64 = false, uint64_t base = 0)
      : mem_(memory), top_(top), next_(next_table), levels_(levels), arm64_(arm64), base_(base) {}

  // Maps `vaddr` to `paddr` with a page of `size` (4 KiB, 2 MiB or 1 GiB).
  void Map(uint64_t vaddr, uint64_t paddr, uint64_t size) {
    int leaf = size == (1ull << 30) ? 3 : size == (2ull << 20) ? 2 : 1;
    uint64_t table = top_;
    for (int level = levels_; level > leaf; --level) {
      uint64_t slot = table + ((vaddr >> (12 + 9 * (level - 1))) & 511) * 8;
      uint64_t e = Get(slot);
      if (!(e & 1)) {
        e = next_ | (arm64_ ? 0x3 : 0x63);
        next_ += 4096;
        Set(slot, e);
      }
      table = e & 0x000ffffffffff000ull;
    }
    // arm64: a block (levels 2, 3) has bit 1 clear, a page (level 1) set; x86_64: PS.
    uint64_t flags = arm64_ ? (leaf > 1 ? 0x1 : 0x3) : 0x63 | (leaf > 1 ? 0x80 : 0);
    Set(table + ((vaddr >> (12 + 9 * (leaf - 1))) & 511) * 8, paddr | flags);
  }
  uint64_t next_table() const { return next_; }

 private:
  uint64_t Get(uint64_t pa) const {
    uint64_t v;
    std::memcpy(&v, mem_->data() + (pa - base_), 8);
    return v;
  }
  void Set(uint64_t pa, uint64_t v) { std::memcpy(mem_->data() + (pa - base_), &v, 8); }
  std::string* mem_;
  uint64_t top_;
  uint64_t next_;
  int levels_;
  bool arm64_;
  uint64_t base_;
};

}  // namespace kcorefs::testing

#endif  // KCOREFS_TESTS_TESTING_PAGE_TABLES_H_
