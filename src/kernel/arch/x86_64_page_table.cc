#include "kernel/arch/x86_64_page_table.h"

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::kernel {
namespace {

constexpr uint64_t kPresent = 1;
constexpr uint64_t kPageSizeBit = 1 << 7;  // PS: a 2 MiB (PMD) or 1 GiB (PUD) page
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;

// Bit position of the address bits a level's index covers: PTE 12, PMD 21, PUD 30,
// P4D 39, PGD 48 (5-level) — level 1 is the PTE.
int Shift(int level) { return 12 + 9 * (level - 1); }

uint64_t Canonical(uint64_t v, int levels) {
  int bits = levels == 5 ? 57 : 48;
  uint64_t sign = uint64_t{1} << (bits - 1);
  uint64_t mask = (uint64_t{1} << bits) - 1;
  v &= mask;
  return (v & sign) ? (v | ~mask) : v;
}

}  // namespace

uint64_t X86PageTable::EntryAddr(uint64_t entry) const { return entry & ~sme_mask_ & kAddrMask; }

absl::StatusOr<Translation> X86PageTable::Translate(uint64_t vaddr) const {
  uint64_t table = top_;
  for (int level = levels_; level >= 1; --level) {
    uint64_t index = (vaddr >> Shift(level)) & 511;
    KCOREFS_ASSIGN_OR_RETURN(uint64_t entry, map_.ReadPhysU64(table + index * 8));
    if (!(entry & kPresent)) {
      return absl::NotFoundError(absl::StrCat("virtual address ", base::Hex(vaddr), " is not mapped"));
    }
    if (level == 1 || ((level == 2 || level == 3) && (entry & kPageSizeBit))) {
      uint64_t page = uint64_t{1} << Shift(level);
      uint64_t frame = EntryAddr(entry) & ~(page - 1);
      return Translation{frame | (vaddr & (page - 1)), page};
    }
    table = EntryAddr(entry);
  }
  return absl::InternalError("page-table walk fell through");
}

absl::StatusOr<std::optional<uint64_t>> X86PageTable::FirstMapped(uint64_t begin,
                                                                  uint64_t end) const {
  int budget = kMaxTablesVisited;
  return FirstMappedIn(top_, levels_, Canonical(0, levels_), begin, end, &budget);
}

absl::StatusOr<std::optional<uint64_t>> X86PageTable::FirstMappedIn(uint64_t table, int level,
                                                                    uint64_t base, uint64_t begin,
                                                                    uint64_t end, int* budget) const {
  // The tables come from the dump: entries may point at tables already visited (or at
  // their own table), so a walk that finds no leaf could read 512^(levels-1) tables from
  // a few pages of input. A real kernel's first mapping is a handful of tables away.
  if (--*budget < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page-table walk read ", kMaxTablesVisited, " tables without finding a mapping in [",
        base::Hex(begin), ", ", base::Hex(end), "); the page tables are corrupt or loop"));
  }
  uint64_t span = uint64_t{1} << Shift(level);
  uint64_t entries[512];
  KCOREFS_RETURN_IF_ERROR(
      map_.ReadPhys(table, absl::MakeSpan(reinterpret_cast<uint8_t*>(entries), sizeof(entries))));
  for (int i = 0; i < 512; ++i) {
    // At the top level the index is taken from the canonical address, so the upper half
    // starts at entry 256 with the sign-extended base.
    uint64_t va = Canonical(base + static_cast<uint64_t>(i) * span, levels_);
    if (level == levels_) va = Canonical(static_cast<uint64_t>(i) * span, levels_);
    uint64_t va_last = va + (span - 1);
    if (va_last < begin || va >= end) continue;
    uint64_t entry = entries[i];
    if (!(entry & kPresent)) continue;
    bool leaf = level == 1 || ((level == 2 || level == 3) && (entry & kPageSizeBit));
    if (leaf) return std::optional<uint64_t>(va < begin ? begin : va);
    KCOREFS_ASSIGN_OR_RETURN(auto found,
                             FirstMappedIn(EntryAddr(entry), level - 1, va, begin, end, budget));
    if (found.has_value()) return found;
  }
  return std::optional<uint64_t>();
}

}  // namespace kcorefs::kernel
