// CoreView: one file of the mount (vmcore, kcore, vmcoreinfo) as an extent table built
// once per snapshot epoch. A read is a binary search plus copies from the extents'
// sources; bytes no extent covers read as zeros (the sparse gaps of the kcore layout).
// Memory is O(segments), never O(bytes). The elf layer knows no transport and no FUSE.
#ifndef KCOREFS_ELF_CORE_VIEW_H_
#define KCOREFS_ELF_CORE_VIEW_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::elf {

enum class ViewKind { kVmcore, kKcore, kVmcoreinfo };

absl::string_view ViewName(ViewKind kind);
std::optional<ViewKind> ViewByName(absl::string_view name);
inline constexpr ViewKind kAllViews[] = {ViewKind::kVmcore, ViewKind::kKcore, ViewKind::kVmcoreinfo};

// `length` bytes at file `offset`, copied from `source` at `source_offset`.
struct Extent {
  uint64_t offset;
  uint64_t length;
  const io::ByteSource* source;
  uint64_t source_offset;
  uint64_t end() const { return offset + length; }
};

class CoreView {
 public:
  // Builds the view's header and extent table from a snapshot (which it pins).
  static absl::StatusOr<std::shared_ptr<const CoreView>> Build(
      ViewKind kind, std::shared_ptr<const backends::Snapshot> snapshot);

  ViewKind kind() const { return kind_; }
  uint64_t size() const { return size_; }
  uint64_t epoch() const { return snapshot_->epoch; }
  const backends::Snapshot& snapshot() const { return *snapshot_; }
  // The generated ELF header, program headers and notes (the text, for vmcoreinfo).
  const std::string& header() const { return header_->bytes(); }
  const std::vector<Extent>& extents() const { return extents_; }
  // Warnings found while building (a dropped link-time alias, a truncated image).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Reads up to out.size() bytes at `offset`; returns the count (short only at EOF).
  // A source failure is returned as is (the FUSE edge turns it into EIO).
  absl::StatusOr<size_t> ReadAt(uint64_t offset, absl::Span<uint8_t> out) const;

 private:
  friend class ViewBuilder;
  CoreView() = default;
  ViewKind kind_ = ViewKind::kVmcore;
  std::shared_ptr<const backends::Snapshot> snapshot_;
  std::shared_ptr<io::BufferByteSource> header_;
  std::vector<Extent> extents_;  // sorted by offset, non-overlapping
  uint64_t size_ = 0;
  std::vector<std::string> warnings_;
};

}  // namespace kcorefs::elf

#endif  // KCOREFS_ELF_CORE_VIEW_H_
