// Architectures as hook tables, drgn's way: one row per architecture holds the facts every
// layer may read (name, ELF machine, page size, struct elf_prstatus layout) and the
// functions that know its address space: layout derivation, the page-table walker and
// the sorting of an input core's segments. Each architecture's hooks live in their own
// files under src/kernel/arch/; adding one is those files plus its row in arch.cc.
#ifndef KCOREFS_KERNEL_ARCH_H_
#define KCOREFS_KERNEL_ARCH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kcorefs/kernel/page_table_walker.h"
#include "kcorefs/kernel/vmcoreinfo.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::kernel {

struct Arch;

// A virtual range of the kernel image and where it sits physically.
struct ImageRange {
  uint64_t vaddr = 0;
  uint64_t paddr = 0;
  uint64_t size = 0;
};

// Where an input core's PT_LOAD belongs, decided by its (p_vaddr, p_paddr) alone.
enum class SegmentClass {
  kKernelImage,    // the kernel image's own mapping; also physical memory at p_paddr
  kDirectMapRam,   // RAM seen through the direct map: p_vaddr - p_paddr is its base
  kOtherRam,       // physical memory whose p_vaddr says nothing of the layout (QEMU: 0)
  kVirtualOnly,    // no physical address (p_paddr = -1): vmalloc, modules, vmemmap
  kUnaddressable,  // neither a physical nor a usable virtual address: nothing reads it
};

// struct elf_prstatus as the architecture's kernel lays it out (include/linux/elfcore.h):
// little-endian, pr_pid a 32-bit int, pr_reg 64-bit registers in the arch's pt_regs
// order. Decoded in kernel/cpu_state.h, written only by elf/.
struct PrstatusLayout {
  size_t size;        // sizeof(struct elf_prstatus)
  size_t pid_offset;  // offsetof(pr_pid)
  size_t reg_offset;  // offsetof(pr_reg)
  size_t reg_count;   // ELF_NGREG
};

// What a layout derivation reads: the memory, VMCOREINFO (holding the row's required
// keys) and what the source's own headers said.
struct LayoutInput {
  const mem::MemoryMap& map;
  const Vmcoreinfo& vmcoreinfo;
  absl::string_view vmcoreinfo_origin;      // for messages
  std::optional<uint64_t> direct_map_base;  // from the source's RAM segments
  std::optional<ImageRange> image;          // the source's kernel-image segment
};

// What a layout derivation gives: the facts views need that VMCOREINFO may not state.
struct KernelLayout {
  uint64_t kaslr_offset = 0;      // KERNELOFFSET
  int64_t phys_base = 0;          // NUMBER(phys_base), may be negative
  bool five_level = false;        // the paging mode (x86_64: NUMBER(pgtable_l5_enabled))
  ImageRange image;               // the kernel image at its runtime address
  uint64_t direct_map_base = 0;   // page_offset_base
  std::string direct_map_origin;  // "vmcoreinfo", "source PT_LOADs", "page tables"
  // key=value lines the served VMCOREINFO gains, in order, each only if absent (x86_64:
  // NUMBER(page_offset_base), which the kernel does not export).
  std::vector<std::pair<std::string, std::string>> derived_vmcoreinfo;
};

struct Arch {
  absl::string_view name;  // as `uname -m` prints it
  uint16_t e_machine;      // ELF machine number
  uint64_t page_size;      // base page size
  // Physical addresses at or past 2^max_phys_bits cannot exist; a segment claiming them
  // is a corrupt header.
  int max_phys_bits;
  PrstatusLayout prstatus;
  // Keys without which the layout cannot be derived or tools refuse the core (drgn:
  // OSRELEASE, PAGESIZE, SYMBOL(swapper_pg_dir)).
  absl::Span<const absl::string_view> required_vmcoreinfo_keys;

  // The hooks. Every one of an architecture whose derivations are not written yet
  // returns the same Unimplemented as `check_supported`.
  absl::Status (*check_supported)(const Arch& arch);
  absl::StatusOr<KernelLayout> (*derive_layout)(const Arch& arch, const LayoutInput& in);
  absl::StatusOr<std::unique_ptr<PageTableWalker>> (*new_page_table_walker)(
      const Arch& arch, const mem::MemoryMap& map, const Vmcoreinfo& vmcoreinfo);
  absl::StatusOr<SegmentClass> (*classify_segment)(const Arch& arch, uint64_t vaddr,
                                                   uint64_t paddr);

  absl::Status CheckSupported() const { return check_supported(*this); }
  // KASLR offset, phys_base, paging mode, direct-map base and the kernel image's extent.
  absl::StatusOr<KernelLayout> DeriveLayout(const LayoutInput& in) const {
    return derive_layout(*this, in);
  }
  // A walker of the kernel's own page tables (x86_64: from SYMBOL(init_top_pgt)).
  absl::StatusOr<std::unique_ptr<PageTableWalker>> NewPageTableWalker(
      const mem::MemoryMap& map, const Vmcoreinfo& vmcoreinfo) const {
    return new_page_table_walker(*this, map, vmcoreinfo);
  }
  absl::StatusOr<SegmentClass> ClassifySegment(uint64_t vaddr, uint64_t paddr) const {
    return classify_segment(*this, vaddr, paddr);
  }
};

// The row for an ELF e_machine or a `uname -m` name, or null when there is none. A row
// whose hooks are not written yet is returned too: its facts still serve messages.
const Arch* ArchByMachine(uint16_t e_machine);
const Arch* ArchByName(absl::string_view name);
const Arch& ArchX86_64();

// The row for `e_machine` when kcorefs can derive its layout. Unimplemented, saying which
// architectures are supported, for any other (aarch64: its row's own message).
absl::StatusOr<const Arch*> LookupArch(uint16_t e_machine);

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_ARCH_H_
