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
  PageTableBuilder(std::string* memory, uint64_t top, uint64_t next_table, int levels = 4)
      : mem_(memory), top_(top), next_(next_table), levels_(levels) {}

  // Maps `vaddr` to `paddr` with a page of `size` (4 KiB, 2 MiB or 1 GiB).
  void Map(uint64_t vaddr, uint64_t paddr, uint64_t size) {
    int leaf = size == (1ull << 30) ? 3 : size == (2ull << 20) ? 2 : 1;
    uint64_t table = top_;
    for (int level = levels_; level > leaf; --level) {
      uint64_t slot = table + ((vaddr >> (12 + 9 * (level - 1))) & 511) * 8;
      uint64_t e = Get(slot);
      if (!(e & 1)) {
        e = next_ | 0x63;
        next_ += 4096;
        Set(slot, e);
      }
      table = e & 0x000ffffffffff000ull;
    }
    uint64_t flags = 0x63 | (leaf > 1 ? 0x80 : 0);
    Set(table + ((vaddr >> (12 + 9 * (leaf - 1))) & 511) * 8, paddr | flags);
  }
  uint64_t next_table() const { return next_; }

 private:
  uint64_t Get(uint64_t pa) const {
    uint64_t v;
    std::memcpy(&v, mem_->data() + pa, 8);
    return v;
  }
  void Set(uint64_t pa, uint64_t v) { std::memcpy(mem_->data() + pa, &v, 8); }
  std::string* mem_;
  uint64_t top_;
  uint64_t next_;
  int levels_;
};

}  // namespace kcorefs::testing

#endif  // KCOREFS_TESTS_TESTING_PAGE_TABLES_H_
