#include "kernel/arch/aarch64_page_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::kernel {
namespace {

// VMSAv8-64 descriptors (4 KiB granule): bit 0 valid; bit 1 set is a table (levels 0-2)
// or a page (level 3), clear is a block (levels 1-2). Output address bits [47:12].
constexpr uint64_t kValid = 1;
constexpr uint64_t kTableOrPage = 2;
constexpr uint64_t kAddrMask = 0x0000fffffffff000ull;

// Level 1 here is the last (PTE) level, as in X86PageTable: shift 12 + 9 * (level - 1).
int Shift(int level) { return 12 + 9 * (level - 1); }

}  // namespace

Arm64PageTable::Arm64PageTable(const mem::MemoryMap& map, uint64_t top_paddr, int va_bits)
    : map_(map), top_(top_paddr), va_bits_(va_bits), levels_((va_bits - 12 + 8) / 9) {}

absl::StatusOr<Translation> Arm64PageTable::Translate(uint64_t vaddr) const {
  uint64_t table = top_;
  for (int level = levels_; level >= 1; --level) {
    // The top level holds 2^(va_bits - shift) entries, fewer than 512 when VA_BITS is not
    // 39 or 48; the bits above VA_BITS (all ones in the TTBR1 half) do not index it.
    const int index_bits = level == levels_ ? std::min(9, va_bits_ - Shift(level)) : 9;
    uint64_t index = (vaddr >> Shift(level)) & ((uint64_t{1} << index_bits) - 1);
    KCOREFS_ASSIGN_OR_RETURN(uint64_t entry, map_.ReadPhysU64(table + index * 8));
    bool block = !(entry & kTableOrPage);
    if (!(entry & kValid) || (level == 1 && block) || (block && level > 3)) {
      return absl::NotFoundError(absl::StrCat("virtual address ", base::Hex(vaddr), " is not mapped"));
    }
    if (level == 1 || block) {
      uint64_t page = uint64_t{1} << Shift(level);
      uint64_t frame = entry & kAddrMask & ~(page - 1);
      return Translation{frame | (vaddr & (page - 1)), page};
    }
    table = entry & kAddrMask;
  }
  return absl::InternalError("page-table walk fell through");
}

absl::StatusOr<std::optional<uint64_t>> Arm64PageTable::FirstMapped(uint64_t begin,
                                                                    uint64_t end) const {
  int budget = kMaxTablesVisited;
  // The TTBR1 half starts at -(2^va_bits); its top table's entry 0 maps that address.
  uint64_t base = ~uint64_t{0} << va_bits_;
  return FirstMappedIn(top_, levels_, base, begin, end, &budget);
}

absl::StatusOr<std::optional<uint64_t>> Arm64PageTable::FirstMappedIn(uint64_t table, int level,
                                                                      uint64_t base, uint64_t begin,
                                                                      uint64_t end, int* budget) const {
  // Entries from a dump may loop back to tables already visited: bound the work.
  if (--*budget < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page-table walk read ", kMaxTablesVisited, " tables without finding a mapping in [",
        base::Hex(begin), ", ", base::Hex(end), "); the page tables are corrupt or loop"));
  }
  uint64_t span = uint64_t{1} << Shift(level);
  // The top level may hold fewer than 512 entries (39-bit: 512 of 1 GiB; 48-bit: 512 of
  // 512 GiB), so the walk stops at the end of the address space.
  uint64_t entries[512];
  KCOREFS_RETURN_IF_ERROR(
      map_.ReadPhys(table, absl::MakeSpan(reinterpret_cast<uint8_t*>(entries), sizeof(entries))));
  for (int i = 0; i < 512; ++i) {
    uint64_t va = base + static_cast<uint64_t>(i) * span;
    if (i > 0 && va < base) break;  // wrapped past 2^64
    uint64_t va_last = va + (span - 1);
    if (va_last < begin || va >= end) continue;
    uint64_t entry = entries[i];
    if (!(entry & kValid)) continue;
    bool block = !(entry & kTableOrPage);
    if (level == 1 && block) continue;  // reserved encoding
    if (level == 1 || (block && level <= 3)) return std::optional<uint64_t>(va < begin ? begin : va);
    if (block) continue;
    KCOREFS_ASSIGN_OR_RETURN(auto found,
                             FirstMappedIn(entry & kAddrMask, level - 1, va, begin, end, budget));
    if (found.has_value()) return found;
  }
  return std::optional<uint64_t>();
}

}  // namespace kcorefs::kernel
