#include "kernel/arch/unimplemented.h"

#include "absl/strings/str_cat.h"

namespace kcorefs::kernel::unimplemented {

absl::Status CheckSupported(const Arch& arch) {
  return absl::UnimplementedError(absl::StrCat(
      "kcorefs derives the kernel layout of x86_64 only; ", arch.name, " is not supported yet"));
}

absl::StatusOr<KernelLayout> DeriveLayout(const Arch& arch, const LayoutInput&) {
  return CheckSupported(arch);
}

absl::StatusOr<std::unique_ptr<PageTableWalker>> NewPageTableWalker(const Arch& arch,
                                                                    const mem::MemoryMap&,
                                                                    const Vmcoreinfo&) {
  return CheckSupported(arch);
}

absl::StatusOr<SegmentClass> ClassifySegment(const Arch& arch, uint64_t, uint64_t) {
  return CheckSupported(arch);
}

}  // namespace kcorefs::kernel::unimplemented
