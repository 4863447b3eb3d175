#include "elf/prstatus.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"

namespace kcorefs::elf {

absl::StatusOr<std::string> EncodePrstatus(const kernel::Arch& arch, const kernel::CpuState& cpu) {
  const kernel::PrstatusLayout& l = arch.prstatus;
  if (cpu.regs.size() != l.reg_count) {
    return absl::InvalidArgumentError(absl::StrCat("CPU ", cpu.cpu, " has ", cpu.regs.size(),
                                                   " registers; ", arch.name, "'s pr_reg holds ",
                                                   l.reg_count));
  }
  auto regs_bytes = base::CheckedMul(l.reg_count, sizeof(uint64_t));
  if (!regs_bytes || !base::RangeWithin(l.reg_offset, *regs_bytes, l.size) ||
      !base::RangeWithin(l.pid_offset, sizeof(cpu.pid), l.size)) {
    return absl::InternalError(absl::StrCat(arch.name, "'s prstatus layout does not fit its size"));
  }
  std::string out(l.size, '\0');
  std::memcpy(out.data() + l.pid_offset, &cpu.pid, sizeof(cpu.pid));  // little-endian host
  std::memcpy(out.data() + l.reg_offset, cpu.regs.data(), *regs_bytes);
  return out;
}

}  // namespace kcorefs::elf
