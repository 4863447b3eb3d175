// VMCOREINFO: the kernel's own key=value text, the contract between kernel and tools.
// Parsed here, found here when a source carries no note, and extended with values the
// kernel does not export but tools need.
#ifndef KCOREFS_KERNEL_VMCOREINFO_H_
#define KCOREFS_KERNEL_VMCOREINFO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::kernel {

class Vmcoreinfo {
 public:
  // Parses the text. Lines without '=' are rejected with their line number; the text must
  // be printable. A last line without '\n' is kept (and the newline added when served).
  static absl::StatusOr<Vmcoreinfo> Parse(absl::string_view text);

  // The text, always ending in '\n' (drgn ignores an unterminated last line).
  const std::string& text() const { return text_; }
  std::optional<std::string> Get(absl::string_view key) const;
  // NUMBER(...) values are printed by the kernel with %ld; SYMBOL(...), KERNELOFFSET and
  // ADDRESS(...) values with %lx.
  std::optional<int64_t> GetDecimal(absl::string_view key) const;
  std::optional<uint64_t> GetHex(absl::string_view key) const;
  bool Has(absl::string_view key) const { return values_.contains(key); }
  // Keys from `required` that are absent.
  std::vector<std::string> Missing(absl::Span<const absl::string_view> required) const;
  // Appends "key=value\n" (value verbatim) unless `key` is present.
  void AppendIfMissing(absl::string_view key, absl::string_view value);

 private:
  std::string text_;
  absl::flat_hash_map<std::string, std::string> values_;
};

// Parses the ELF notes in `notes` (4-byte aligned, as the kernel writes them).
struct Note {
  std::string name;
  uint32_t type = 0;
  std::string desc;
};
absl::StatusOr<std::vector<Note>> ParseNotes(absl::string_view notes);
// Serialises notes with 4-byte padding.
std::string SerializeNotes(const std::vector<Note>& notes);

// Scans physical memory page by page for the kernel's vmcoreinfo_note: a page-aligned ELF
// note with namesz 11, type 0, name "VMCOREINFO" and text starting "OSRELEASE=". Returns
// the text and sets `*found_at` to its physical address. NotFound when no page holds one.
absl::StatusOr<std::string> ScanForVmcoreinfo(const mem::MemoryMap& map, uint64_t page_size,
                                              uint64_t* found_at);

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_VMCOREINFO_H_
