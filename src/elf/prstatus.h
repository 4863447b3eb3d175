// NT_PRSTATUS descriptors from typed per-CPU state: the inverse of kernel::DecodePrstatus,
// so a source's registers reach crash, gdb and drgn byte for byte.
#ifndef KCOREFS_ELF_PRSTATUS_H_
#define KCOREFS_ELF_PRSTATUS_H_

#include <string>

#include "absl/status/statusor.h"
#include "kcorefs/kernel/arch.h"
#include "kcorefs/kernel/cpu_state.h"

namespace kcorefs::elf {

// struct elf_prstatus in `arch`'s layout: pr_pid and pr_reg from `cpu`, every other field
// zero (as kdump's crash_save_cpu() and QEMU write it). InvalidArgument when `cpu` does not
// hold the layout's register count.
absl::StatusOr<std::string> EncodePrstatus(const kernel::Arch& arch, const kernel::CpuState& cpu);

}  // namespace kcorefs::elf

#endif  // KCOREFS_ELF_PRSTATUS_H_
