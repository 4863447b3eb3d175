// CoreView: one file of the mount (vmcore, kcore, vmcoreinfo) as an extent table built
// once per snapshot epoch. A read is a binary search plus copies from the extents'
// sources; bytes no extent covers read as zeros (the sparse gaps of the kcore layout).
// Memory is O(segments), never O(bytes). The elf layer knows no transport and no FUSE.
#ifndef KCOREFS_ELF_CORE_VIEW_H_
#define KCOREFS_ELF_CORE_VIEW_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kcorefs/backends/snapshot.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::elf {

class CoreView;

// One entry of the view registry: a file of the mount and of `kcorefs export --view`.
// FUSE inodes and the CLI's view list are generated from ViewTypes(); a view that applies
// only to some sources (coreimage: kmemdump) says so in `applies`.
struct ViewType {
  absl::string_view name;
  absl::string_view summary;
  bool (*applies)(const backends::Snapshot& snapshot);
  absl::StatusOr<std::shared_ptr<const CoreView>> (*build)(
      const ViewType& type, std::shared_ptr<const backends::Snapshot> snapshot);
};

// Every view, in the order the mount lists them.
const std::vector<const ViewType*>& ViewTypes();
const ViewType* FindViewType(absl::string_view name);
// Names of the views that apply to `snapshot`, for messages ("vmcore, kcore, vmcoreinfo").
std::string ViewNames(const backends::Snapshot* snapshot = nullptr);

// `length` bytes at file `offset`, copied from `source` at `source_offset`.
struct Extent {
  uint64_t offset;
  uint64_t length;
  const io::ByteSource* source;
  uint64_t source_offset;
  uint64_t end() const { return offset + length; }
};

// One piece of a range of a view, as ForEachPiece gives it: `length` bytes from `source`
// at `source_offset`, or zeros when `source` is null (a gap no extent covers).
struct Piece {
  uint64_t length;
  const io::ByteSource* source;
  uint64_t source_offset;
};

class CoreView {
 public:
  // Builds the view's header and extent table from a snapshot (which it pins).
  // Builds view `name` of `snapshot`: NotFound for a name no view has, FailedPrecondition
  // for a view that does not apply to this source.
  static absl::StatusOr<std::shared_ptr<const CoreView>> Build(
      absl::string_view name, std::shared_ptr<const backends::Snapshot> snapshot);

  const ViewType& type() const { return *type_; }
  absl::string_view name() const { return type_->name; }
  uint64_t size() const { return size_; }
  uint64_t epoch() const { return snapshot_->epoch; }
  const backends::Snapshot& snapshot() const { return *snapshot_; }
  // The generated ELF header, program headers and notes (the text, for vmcoreinfo).
  const std::string& header() const { return header_->bytes(); }
  const std::vector<Extent>& extents() const { return extents_; }
  // Warnings found while building (a dropped link-time alias, a truncated image).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Reads up to out.size() bytes at `offset`; returns the count (short only at EOF).
  // A source failure keeps its code and kind, annotated with DescribeOffset() of the
  // failing byte (the FUSE edge turns it into EIO).
  absl::StatusOr<size_t> ReadAt(uint64_t offset, absl::Span<uint8_t> out,
                                absl::Time deadline = io::NoDeadline()) const;
  // The pieces of [offset, offset + length) cut at the end of the file, in file order and
  // covering it exactly, without reading anything: the FUSE edge replies from them (header
  // bytes in place, fd-backed data spliced). Stops at the first error `fn` returns.
  absl::Status ForEachPiece(uint64_t offset, uint64_t length,
                            absl::FunctionRef<absl::Status(const Piece&)> fn) const;
  // How many bytes a read of `length` at `offset` gives (short only at the end).
  uint64_t Clip(uint64_t offset, uint64_t length) const {
    return offset >= size_ ? 0 : std::min(length, size_ - offset);
  }
  // "vmcore offset 0x1000 (physical 0x2000, virtual 0xffff888000002000)": the addresses
  // the program header holding `offset` gives it. Walks the header: for messages only.
  std::string DescribeOffset(uint64_t offset) const;

 private:
  friend class ViewBuilder;
  CoreView() = default;
  const ViewType* type_ = nullptr;
  std::shared_ptr<const backends::Snapshot> snapshot_;
  std::shared_ptr<io::BufferByteSource> header_;
  std::vector<Extent> extents_;  // sorted by offset, non-overlapping
  uint64_t size_ = 0;
  std::vector<std::string> warnings_;
};

}  // namespace kcorefs::elf

#endif  // KCOREFS_ELF_CORE_VIEW_H_
