// Hooks for a row whose derivations are not written yet (aarch64): each returns the same
// Unimplemented, so whatever is asked of the architecture first gets the clear answer.
#ifndef KCOREFS_KERNEL_ARCH_UNIMPLEMENTED_H_
#define KCOREFS_KERNEL_ARCH_UNIMPLEMENTED_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "kcorefs/kernel/arch.h"

namespace kcorefs::kernel::unimplemented {

absl::Status CheckSupported(const Arch& arch);
absl::StatusOr<KernelLayout> DeriveLayout(const Arch& arch, const LayoutInput& in);
absl::StatusOr<std::unique_ptr<PageTableWalker>> NewPageTableWalker(const Arch& arch,
                                                                    const mem::MemoryMap& map,
                                                                    const Vmcoreinfo& vmcoreinfo);
absl::StatusOr<SegmentClass> ClassifySegment(const Arch& arch, uint64_t vaddr, uint64_t paddr);

}  // namespace kcorefs::kernel::unimplemented

#endif  // KCOREFS_KERNEL_ARCH_UNIMPLEMENTED_H_
