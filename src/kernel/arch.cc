#include "kcorefs/kernel/arch.h"

#include <elf.h>

#include "absl/strings/str_cat.h"
#include "kernel/arch/aarch64.h"
#include "kernel/arch/x86_64.h"

namespace kcorefs::kernel {
namespace {

constexpr Arch kArches[] = {
    {
        .name = "x86_64",
        .e_machine = EM_X86_64,
        .page_size = 4096,
        .max_phys_bits = 52,
        // include/linux/elfcore.h struct elf_prstatus on x86_64: 336 bytes, pr_pid at 32,
        // pr_reg (27 registers) at 112.
        .prstatus = {.size = 336, .pid_offset = 32, .reg_offset = 112, .reg_count = 27},
        .required_vmcoreinfo_keys = x86_64::kRequiredVmcoreinfoKeys,
        .check_supported = x86_64::CheckSupported,
        .derive_layout = x86_64::DeriveLayout,
        .new_page_table_walker = x86_64::NewPageTableWalker,
        .classify_segment = x86_64::ClassifySegment,
    },
    {
        .name = "aarch64",
        .e_machine = EM_AARCH64,
        .page_size = 4096,
        .max_phys_bits = 52,
        // 392 bytes, pr_pid at 32, pr_reg (34 registers: x0-x30, sp, pc, pstate) at 112.
        .prstatus = {.size = 392, .pid_offset = 32, .reg_offset = 112, .reg_count = 34},
        .required_vmcoreinfo_keys = aarch64::kRequiredVmcoreinfoKeys,
        .check_supported = aarch64::CheckSupported,
        .derive_layout = aarch64::DeriveLayout,
        .new_page_table_walker = aarch64::NewPageTableWalker,
        .classify_segment = aarch64::ClassifySegment,
    },
};

}  // namespace

const Arch* ArchByMachine(uint16_t e_machine) {
  for (const Arch& a : kArches) {
    if (a.e_machine == e_machine) return &a;
  }
  return nullptr;
}

const Arch* ArchByName(absl::string_view name) {
  for (const Arch& a : kArches) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const Arch& ArchX86_64() { return kArches[0]; }

absl::StatusOr<const Arch*> LookupArch(uint16_t e_machine) {
  const Arch* arch = ArchByMachine(e_machine);
  if (arch == nullptr) {
    std::string supported;
    for (const Arch& a : kArches) {
      if (a.CheckSupported().ok()) absl::StrAppend(&supported, supported.empty() ? "" : ", ", a.name);
    }
    return absl::UnimplementedError(absl::StrCat("ELF machine ", e_machine,
                                                 " is not an architecture kcorefs knows; kcorefs "
                                                 "derives the kernel layout of ", supported, " only"));
  }
  absl::Status supported = arch->CheckSupported();
  if (!supported.ok()) return supported;
  return arch;
}

}  // namespace kcorefs::kernel
