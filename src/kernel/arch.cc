#include "absl/strings/string_view.h"
#include "kcorefs/kernel/arch.h"

#include <elf.h>

namespace kcorefs::kernel {
namespace {

constexpr ArchInfo kArches[] = {
    {
        .name = "x86_64",
        .e_machine = EM_X86_64,
        .page_size = 4096,
        // arch/x86/include/asm/page_64_types.h: __START_KERNEL_map, KERNEL_IMAGE_SIZE (1 GiB
        // with KASLR).
        .kernel_map_start = 0xffffffff80000000ull,
        .kernel_map_size = 0x40000000ull,
        // __PAGE_OFFSET_BASE_L4 / _L5; arch/x86/mm/kaslr.c randomises the direct map upward
        // from there, in PUD_SIZE steps, below the cpu_entry_area.
        .direct_map_min_l4 = 0xffff888000000000ull,
        .direct_map_min_l5 = 0xff11000000000000ull,
        .direct_map_max = 0xfffffe0000000000ull,
        .direct_map_align = 0x40000000ull,
        // include/linux/elfcore.h struct elf_prstatus on x86_64: 336 bytes, pr_pid at 32,
        // pr_reg (27 registers) at 112.
        .prstatus_size = 336,
        .prstatus_pid_offset = 32,
        .prstatus_reg_offset = 112,
        .prstatus_reg_size = 27 * 8,
        .max_phys_bits = 52,
        .has_page_table_walker = true,
    },
    {
        .name = "aarch64",
        .e_machine = EM_AARCH64,
        .page_size = 4096,
        .kernel_map_start = 0,  // KIMAGE_VADDR depends on VA_BITS; read from VMCOREINFO
        .kernel_map_size = 0,
        .direct_map_min_l4 = 0,
        .direct_map_min_l5 = 0,
        .direct_map_max = 0,
        .direct_map_align = 0,
        // 392 bytes, pr_pid at 32, pr_reg (34 registers) at 112.
        .prstatus_size = 392,
        .prstatus_pid_offset = 32,
        .prstatus_reg_offset = 112,
        .prstatus_reg_size = 34 * 8,
        .max_phys_bits = 52,
        .has_page_table_walker = false,
    },
};

}  // namespace

const ArchInfo* ArchByMachine(uint16_t e_machine) {
  for (const ArchInfo& a : kArches) {
    if (a.e_machine == e_machine) return &a;
  }
  return nullptr;
}

const ArchInfo* ArchByName(absl::string_view name) {
  for (const ArchInfo& a : kArches) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const ArchInfo& ArchX86_64() { return kArches[0]; }

}  // namespace kcorefs::kernel
