// aarch64's hooks for its row in src/kernel/arch.cc.
#ifndef KCOREFS_KERNEL_ARCH_AARCH64_H_
#define KCOREFS_KERNEL_ARCH_AARCH64_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kcorefs/kernel/arch.h"

namespace kcorefs::kernel::aarch64 {

// drgn needs the first three; arch/arm64/kernel/crash_core.c exports the rest, and the
// derivation in aarch64.cc cannot place the linear map or the image without them.
inline constexpr absl::string_view kRequiredVmcoreinfoKeys[] = {
    "OSRELEASE",       "PAGESIZE",               "SYMBOL(swapper_pg_dir)",
    "NUMBER(VA_BITS)", "NUMBER(kimage_voffset)", "NUMBER(PHYS_OFFSET)",
    "KERNELOFFSET"};

absl::Status CheckSupported(const Arch& arch);
absl::StatusOr<KernelLayout> DeriveLayout(const Arch& arch, const LayoutInput& in);
absl::StatusOr<std::unique_ptr<PageTableWalker>> NewPageTableWalker(const Arch& arch,
                                                                    const mem::MemoryMap& map,
                                                                    const Vmcoreinfo& vmcoreinfo);
absl::StatusOr<SegmentClass> ClassifySegment(const Arch& arch, uint64_t vaddr, uint64_t paddr);

}  // namespace kcorefs::kernel::aarch64

#endif  // KCOREFS_KERNEL_ARCH_AARCH64_H_
