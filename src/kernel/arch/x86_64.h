// x86_64's hooks for its row in src/kernel/arch.cc.
#ifndef KCOREFS_KERNEL_ARCH_X86_64_H_
#define KCOREFS_KERNEL_ARCH_X86_64_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kcorefs/kernel/arch.h"

namespace kcorefs::kernel::x86_64 {

// drgn needs the first three; the derivation in x86_64.cc cannot start without the rest.
inline constexpr absl::string_view kRequiredVmcoreinfoKeys[] = {
    "OSRELEASE",          "PAGESIZE",          "SYMBOL(swapper_pg_dir)",
    "SYMBOL(init_top_pgt)", "NUMBER(phys_base)", "KERNELOFFSET"};

absl::Status CheckSupported(const Arch& arch);
absl::StatusOr<KernelLayout> DeriveLayout(const Arch& arch, const LayoutInput& in);
absl::StatusOr<std::unique_ptr<PageTableWalker>> NewPageTableWalker(const Arch& arch,
                                                                    const mem::MemoryMap& map,
                                                                    const Vmcoreinfo& vmcoreinfo);
absl::StatusOr<SegmentClass> ClassifySegment(const Arch& arch, uint64_t vaddr, uint64_t paddr);

}  // namespace kcorefs::kernel::x86_64

#endif  // KCOREFS_KERNEL_ARCH_X86_64_H_
