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
#include "absl/time/time.h"
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
  uint64_t offset = 0;  // of the note's header in the bytes ParseNotes was given
};
absl::StatusOr<std::vector<Note>> ParseNotes(absl::string_view notes);
// Serialises notes with 4-byte padding.
std::string SerializeNotes(const std::vector<Note>& notes);

struct VmcoreinfoScanOptions {
  uint64_t page_size = 4096;
  // Bytes read per batch; 0 takes each segment's source's preferred_read_size(). Rounded
  // up to whole pages and capped, so a scan holds one batch in memory.
  uint64_t batch_size = 0;
  // Each batch must be read within this (the source returns DeadlineExceeded otherwise).
  absl::Duration batch_timeout = absl::InfiniteDuration();
};

struct VmcoreinfoScanHit {
  std::string text;    // as Vmcoreinfo::Parse() keeps it
  uint64_t paddr = 0;  // where the note starts
};

// Scans physical memory for the kernel's vmcoreinfo_note: a page-aligned ELF note with
// namesz 11, type 0, name "VMCOREINFO" and text starting "OSRELEASE=". Reads only the
// bytes segments hold (their data, cut at their source's end), in batches of whole pages,
// each batch split into preferred_read_size() requests of one ReadMany() call so a remote
// source can pipeline them.
//
// nullopt: no page holds the note. A fault inside a batch (pages the source does not
// hold) makes that batch be read page by page, skipping the absent pages. Any other read
// failure ends the scan: "could not read physical 0x... from SOURCE: <message>", naming
// the start of the failing batch, with the failure's code and kind.
absl::StatusOr<std::optional<VmcoreinfoScanHit>> ScanForVmcoreinfo(
    const mem::MemoryMap& map, const VmcoreinfoScanOptions& options = {});

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_VMCOREINFO_H_
