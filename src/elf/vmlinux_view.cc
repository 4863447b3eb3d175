// The vmlinux view: the user's vmlinux (checked against the kernel's BUILD-ID when the
// source was opened), streamed from the file read by read. When the kernel image's
// link-time and runtime ranges overlap, its e_type is served as ET_DYN (2 bytes; the rest
// is the file): gdb then relocates every symbol by AT_ENTRY - e_entry from the kcore
// view's NT_AUXV, as it does for a PIE process core. Otherwise it is the file unchanged.
#include <elf.h>

#include "absl/strings/str_cat.h"
#include "elf/view_builder.h"
#include "kcorefs/elf/gdb.h"

namespace kcorefs::elf {

void ViewBuilder::BuildVmlinux() {
  const kernel::Vmlinux& v = *snap_.facts.vmlinux;
  const io::ByteSource* file = v.file.get();
  const uint64_t size = file->size();
  constexpr uint64_t kTypeAt = offsetof(Elf64_Ehdr, e_type);
  std::string patch;
  if (RelocatesVmlinux(snap_) && v.e_type != ET_DYN && size >= sizeof(Elf64_Ehdr)) {
    patch = v.big_endian ? std::string{0, ET_DYN} : std::string{ET_DYN, 0};
  }
  view_->header_ = std::make_shared<io::BufferByteSource>("vmlinux e_type (ET_DYN)", patch);
  if (patch.empty()) {
    AddExtent(0, size, file, 0);
  } else {
    view_->extents_.push_back(Extent{0, kTypeAt, file, 0});
    view_->extents_.push_back(Extent{kTypeAt, patch.size(), view_->header_.get(), 0});
    AddExtent(kTypeAt + patch.size(), size - kTypeAt - patch.size(), file, kTypeAt + patch.size());
  }
  view_->size_ = size;
}

}  // namespace kcorefs::elf
