// Builds a CoreView's header and extent table for one layout. The layout rules are those of
// research/core_consumers.md §7–§8; each choice below says which consumer needs it.
#ifndef KCOREFS_ELF_VIEW_BUILDER_H_
#define KCOREFS_ELF_VIEW_BUILDER_H_

#include <elf.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "elf/elf_writer.h"
#include "kcorefs/elf/core_view.h"

namespace kcorefs::elf {

// The layouts the builder knows; ViewType rows in core_view.cc pick one.
enum class ViewLayout { kVmcore, kKcore, kVmcoreinfo };

class ViewBuilder {
 public:
  ViewBuilder(const ViewType& type, ViewLayout layout,
              std::shared_ptr<const backends::Snapshot> snapshot);
  absl::StatusOr<std::shared_ptr<const CoreView>> Build();

 private:
  void BuildVmcore();
  void BuildKcore();
  void BuildVmcoreinfo();
  // The merged note segment: NT_PRSTATUS of the CPUs with real registers, in CPU order
  // (elf/prstatus.h), then VMCOREINFO.
  std::string Notes();
  // Adds extents serving physical [paddr, paddr + size) at file `offset`; stops at the
  // first byte the map does not hold and returns how many bytes were placed.
  uint64_t AddPhysical(uint64_t offset, uint64_t paddr, uint64_t size);
  // The parts of the kernel image's physical range the source holds, as (offset into the
  // image, length), in order. A filtered dump (pages freed after boot excluded) or a
  // truncated one leaves holes in the image; each part becomes a segment of its own, so
  // the holes read as not present instead of cutting the image at the first one. (The
  // facts' own warning says the image is not wholly in the source.)
  std::vector<std::pair<uint64_t, uint64_t>> ImageParts() const;
  void AddExtent(uint64_t offset, uint64_t length, const io::ByteSource* source,
                 uint64_t source_offset);
  void ReserveExtents(size_t phnum);
  // Takes the finished header, sorts and checks the extents, and sets the file size.
  void Finish(CoreHeaderWriter& writer);

  std::unique_ptr<CoreView> view_;
  ViewLayout layout_;
  const backends::Snapshot& snap_;
  uint64_t page_;
  absl::Status error_;  // set by Finish when the extents it was given overlap
};

}  // namespace kcorefs::elf

#endif  // KCOREFS_ELF_VIEW_BUILDER_H_
