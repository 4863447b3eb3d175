#include "kcorefs/kernel/cpu_state.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"

namespace kcorefs::kernel {

bool CpuState::HasRegisters() const {
  return std::any_of(regs.begin(), regs.end(), [](uint64_t r) { return r != 0; });
}

absl::StatusOr<CpuState> DecodePrstatus(const Arch& arch, absl::string_view desc, int cpu) {
  const PrstatusLayout& l = arch.prstatus;
  if (desc.size() != l.size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NT_PRSTATUS of ", desc.size(), " bytes is not ", arch.name, "'s struct elf_prstatus (",
        l.size, " bytes)"));
  }
  // The row is ours, but a wrong one must not read past the descriptor.
  auto regs_bytes = base::CheckedMul(l.reg_count, sizeof(uint64_t));
  if (!regs_bytes || !base::RangeWithin(l.reg_offset, *regs_bytes, desc.size()) ||
      !base::RangeWithin(l.pid_offset, sizeof(int32_t), desc.size())) {
    return absl::InternalError(absl::StrCat(arch.name, "'s prstatus layout does not fit its size"));
  }
  CpuState s;
  s.cpu = cpu;
  std::memcpy(&s.pid, desc.data() + l.pid_offset, sizeof(s.pid));  // little-endian host
  s.regs.resize(l.reg_count);
  std::memcpy(s.regs.data(), desc.data() + l.reg_offset, *regs_bytes);
  return s;
}

}  // namespace kcorefs::kernel
