// KernelFacts: what the views need to know about the kernel behind a memory map, derived
// from VMCOREINFO, the source's own headers (hints) and, where neither says, the page
// tables.
#ifndef KCOREFS_KERNEL_KERNEL_FACTS_H_
#define KCOREFS_KERNEL_KERNEL_FACTS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kcorefs/kernel/arch.h"
#include "kcorefs/kernel/cpu_state.h"
#include "kcorefs/kernel/vmcoreinfo.h"
#include "kcorefs/kernel/vmlinux.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::kernel {

// A source shorter than its own headers say. Derivation errors that trip over the
// missing part name it, so the user learns the dump is cut rather than corrupt.
struct Truncation {
  std::string source;          // the source's name
  uint64_t described = 0;      // bytes the headers describe (the largest offset + size)
  uint64_t file_size = 0;      // bytes the source has
  // Physical ranges [first, second) the headers place in the missing part, sorted.
  std::vector<std::pair<uint64_t, uint64_t>> missing_phys;
  // "SOURCE is truncated: headers describe N bytes, the file has M".
  std::string Headline() const;
  // Whether `paddr` is in one of missing_phys.
  bool Missing(uint64_t paddr) const;
};

// What a backend learned from its source's own format, before any derivation.
struct KernelHints {
  const Arch* arch = nullptr;
  std::optional<std::string> vmcoreinfo;  // the source's VMCOREINFO text, if it has one
  std::string vmcoreinfo_origin;          // where that text came from, for `info`
  std::optional<uint64_t> direct_map_base;  // from PT_LOADs (p_vaddr - p_paddr)
  std::optional<ImageRange> image;          // the source's kernel-image segment
  // CPUs whose registers the source really holds, in CPU order.
  std::vector<CpuState> cpus;
  std::optional<Truncation> truncation;     // set when the source is shorter than described
};

struct KernelFacts {
  const Arch* arch = nullptr;
  Vmcoreinfo vmcoreinfo;               // as served: the kernel's text plus derived keys
  std::string vmcoreinfo_origin;       // "source note", "--vmcoreinfo FILE", "scan at 0x…"
  std::string osrelease;
  uint64_t kaslr_offset = 0;           // KERNELOFFSET
  int64_t phys_base = 0;               // NUMBER(phys_base), may be negative
  bool five_level = false;
  ImageRange image;                    // the kernel image at its runtime address
  uint64_t direct_map_base = 0;        // page_offset_base
  std::string direct_map_origin;       // "vmcoreinfo", "source PT_LOADs", "page tables"
  std::vector<CpuState> cpus;          // served as NT_PRSTATUS, in this order
  std::vector<std::string> warnings;   // shown at mount and by `info`
  // The vmlinux checked against BUILD-ID (--vmlinux, or Debian's path); null when none.
  std::shared_ptr<const Vmlinux> vmlinux;

  // The kernel image's link-time address (runtime minus KERNELOFFSET).
  uint64_t image_link_vaddr() const { return image.vaddr - kaslr_offset; }
};

struct DeriveOptions {
  // Text of `--vmcoreinfo FILE`; overrides the source's note.
  std::optional<std::string> vmcoreinfo_override;
  std::string vmcoreinfo_override_name;
  // `--vmlinux PATH` (an empty PATH: no vmlinux, not even Debian's); unset: look in
  // vmlinux_search_dir for vmlinux-OSRELEASE.
  std::optional<std::string> vmlinux_path;
  std::string vmlinux_search_dir = "/usr/lib/debug/boot";
};

// Derives the facts: finds VMCOREINFO, checks the architecture's required keys, and has
// the architecture derive the layout. Fails with a message that says what is missing and
// what to do (`--vmcoreinfo FILE`) when VMCOREINFO cannot be found or lacks required
// keys; when the scan for it could not read the source, with that I/O error (its code
// and kind kept), not "not found".
absl::StatusOr<KernelFacts> DeriveKernelFacts(const mem::MemoryMap& map, const KernelHints& hints,
                                              const DeriveOptions& options);

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_KERNEL_FACTS_H_
