// x86_64 page-table walk over physical memory (4- and 5-level, 2 MiB and 1 GiB pages).
// Used to find what the kernel does not export: the direct-map base and the extent of
// the kernel image's mapping. Private to kernel/: other layers get a PageTableWalker from
// the architecture's row.
#ifndef KCOREFS_KERNEL_ARCH_X86_64_PAGE_TABLE_H_
#define KCOREFS_KERNEL_ARCH_X86_64_PAGE_TABLE_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "kcorefs/kernel/page_table_walker.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::kernel {

class X86PageTable final : public PageTableWalker {
 public:
  // `top_paddr`: physical address of the top-level table (init_top_pgt);
  // `five_level`: NUMBER(pgtable_l5_enabled); `sme_mask`: NUMBER(sme_mask), cleared from
  // every entry before use.
  X86PageTable(const mem::MemoryMap& map, uint64_t top_paddr, bool five_level, uint64_t sme_mask)
      : map_(map), top_(top_paddr), levels_(five_level ? 5 : 4), sme_mask_(sme_mask) {}

  // Translates `vaddr`. A non-present entry is NotFound; an unreadable table is the
  // fault from the memory map.
  absl::StatusOr<Translation> Translate(uint64_t vaddr) const override;

  // The lowest mapped virtual address in [begin, end), or nullopt. Skips unmapped
  // subtrees whole, so the cost is the number of tables visited, not the range size; past
  // kMaxTablesVisited tables (corrupt or self-referencing tables) it fails.
  absl::StatusOr<std::optional<uint64_t>> FirstMapped(uint64_t begin, uint64_t end) const override;
  static constexpr int kMaxTablesVisited = 4096;

 private:
  absl::StatusOr<std::optional<uint64_t>> FirstMappedIn(uint64_t table, int level, uint64_t base,
                                                        uint64_t begin, uint64_t end,
                                                        int* budget) const;
  uint64_t EntryAddr(uint64_t entry) const;
  const mem::MemoryMap& map_;
  uint64_t top_;
  int levels_;
  uint64_t sme_mask_;
};

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_ARCH_X86_64_PAGE_TABLE_H_
