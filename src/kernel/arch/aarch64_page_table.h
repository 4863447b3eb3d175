// aarch64 kernel (TTBR1) page-table walk over physical memory with the 4 KiB granule:
// 3 levels for 39-bit, 4 for 48-bit virtual addresses; 1 GiB and 2 MiB blocks. Used to
// find the extent of the kernel image's mapping. Private to kernel/.
#ifndef KCOREFS_KERNEL_ARCH_AARCH64_PAGE_TABLE_H_
#define KCOREFS_KERNEL_ARCH_AARCH64_PAGE_TABLE_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "kcorefs/kernel/page_table_walker.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::kernel {

class Arm64PageTable final : public PageTableWalker {
 public:
  // `top_paddr`: physical address of swapper_pg_dir; `va_bits`: NUMBER(VA_BITS) (the
  // walk uses the levels a 4 KiB granule needs for it).
  Arm64PageTable(const mem::MemoryMap& map, uint64_t top_paddr, int va_bits);

  absl::StatusOr<Translation> Translate(uint64_t vaddr) const override;
  // As X86PageTable::FirstMapped, over the upper (TTBR1) half only.
  absl::StatusOr<std::optional<uint64_t>> FirstMapped(uint64_t begin, uint64_t end) const override;
  static constexpr int kMaxTablesVisited = 4096;

 private:
  absl::StatusOr<std::optional<uint64_t>> FirstMappedIn(uint64_t table, int level, uint64_t base,
                                                        uint64_t begin, uint64_t end,
                                                        int* budget) const;
  const mem::MemoryMap& map_;
  uint64_t top_;
  int va_bits_;
  int levels_;
};

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_ARCH_AARCH64_PAGE_TABLE_H_
