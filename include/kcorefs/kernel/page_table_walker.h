// PageTableWalker: an architecture's kernel page tables read from physical memory. Used to
// find what the kernel does not export (the direct-map base, the kernel image's extent)
// and, later, to place vmalloc and module memory. Each architecture's row in
// kcorefs/kernel/arch.h makes its own walker.
#ifndef KCOREFS_KERNEL_PAGE_TABLE_WALKER_H_
#define KCOREFS_KERNEL_PAGE_TABLE_WALKER_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"

namespace kcorefs::kernel {

struct Translation {
  uint64_t paddr;      // physical address of the translated byte
  uint64_t page_size;  // size of the page that maps it (x86_64: 4 KiB, 2 MiB or 1 GiB)
};

class PageTableWalker {
 public:
  virtual ~PageTableWalker() = default;

  // Translates `vaddr`. A non-present entry is NotFound; an unreadable table is the
  // fault (or I/O error) from the memory map.
  virtual absl::StatusOr<Translation> Translate(uint64_t vaddr) const = 0;

  // The lowest mapped virtual address in [begin, end), or nullopt. Unmapped subtrees are
  // skipped whole, so the cost is the number of tables visited, not the range size.
  virtual absl::StatusOr<std::optional<uint64_t>> FirstMapped(uint64_t begin,
                                                              uint64_t end) const = 0;
};

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_PAGE_TABLE_WALKER_H_
