// CpuState: what a source knows of one CPU at the time of the dump — the task it ran and
// its registers. Backends fill it from their format (an ELF core's NT_PRSTATUS notes);
// the elf layer writes it back as NT_PRSTATUS in the architecture's layout.
#ifndef KCOREFS_KERNEL_CPU_STATE_H_
#define KCOREFS_KERNEL_CPU_STATE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kcorefs/kernel/arch.h"

namespace kcorefs::kernel {

struct CpuState {
  // The CPU's number: its place among the source's per-CPU records (kdump and QEMU write
  // one NT_PRSTATUS per CPU, in CPU order).
  int cpu = 0;
  // pr_pid: the task running on the CPU (crash and drgn match it to a task; 0 is idle).
  int32_t pid = 0;
  // pr_reg: Arch::prstatus.reg_count registers in the architecture's pt_regs order
  // (x86_64: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs
  // eflags rsp ss fs_base gs_base ds es fs gs).
  std::vector<uint64_t> regs;

  // False for the all-zero set /proc/kcore writes: no consumer can use it.
  bool HasRegisters() const;
};

// Decodes an NT_PRSTATUS descriptor laid out as `arch`'s struct elf_prstatus. A
// descriptor of another size is InvalidArgument naming both sizes. Fields other than
// pr_pid and pr_reg are not kept: kdump and QEMU leave them zero and no consumer reads
// them from a kernel core.
absl::StatusOr<CpuState> DecodePrstatus(const Arch& arch, absl::string_view desc, int cpu);

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_CPU_STATE_H_
