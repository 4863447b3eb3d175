// Per-architecture facts, in one table so a new architecture is one more row.
#ifndef KCOREFS_KERNEL_ARCH_H_
#define KCOREFS_KERNEL_ARCH_H_

#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

namespace kcorefs::kernel {

struct ArchInfo {
  absl::string_view name;       // as `uname -m` prints it
  uint16_t e_machine;          // ELF machine number
  uint64_t page_size;          // base page size
  // The kernel image's own mapping (x86_64: __START_KERNEL_map) and its largest size.
  uint64_t kernel_map_start;
  uint64_t kernel_map_size;
  // Where the direct map may start: its lowest base with 4- and 5-level paging, the end of
  // the randomisation window, and the granule KASLR moves it by.
  uint64_t direct_map_min_l4;
  uint64_t direct_map_min_l5;
  uint64_t direct_map_max;
  uint64_t direct_map_align;
  // struct elf_prstatus layout: total size, then where pr_pid and pr_reg sit.
  size_t prstatus_size;
  size_t prstatus_pid_offset;
  size_t prstatus_reg_offset;
  size_t prstatus_reg_size;
  // Physical addresses at or past 2^max_phys_bits cannot exist; a segment claiming them is
  // a corrupt header.
  int max_phys_bits;
  bool has_page_table_walker;  // kernel/page_table.h knows this architecture's tables
};

// The row for an ELF e_machine, or null when the architecture is not supported.
const ArchInfo* ArchByMachine(uint16_t e_machine);
const ArchInfo* ArchByName(absl::string_view name);
const ArchInfo& ArchX86_64();

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_ARCH_H_
