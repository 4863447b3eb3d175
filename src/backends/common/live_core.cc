#include "backends/common/live_core.h"

#include <elf.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "backends/common/elf_core.h"
#include "backends/common/snapshot_builder.h"
#include "kcorefs/base/log.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::backends {
namespace {

// The bytes that describe the layout: the ELF header and program header table (at most
// 1 MiB of it). st_size alone misses most changes: it is the headers' size plus the
// highest segment end (the kernel image or vsyscall page), which hotplug rarely moves.
absl::StatusOr<std::string> LayoutBytes(const io::ByteSource& bytes, uint64_t size,
                                         absl::Time deadline) {
  constexpr uint64_t kLimit = 1 << 20;
  Elf64_Ehdr eh;
  if (size < sizeof(eh)) return std::string();
  KCOREFS_RETURN_IF_ERROR(
      bytes.ReadAt(0, absl::MakeSpan(reinterpret_cast<uint8_t*>(&eh), sizeof(eh)), deadline));
  uint64_t table_end = eh.e_phoff > kLimit ? kLimit : eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  uint64_t end = std::max<uint64_t>(std::min<uint64_t>({size, kLimit, table_end}), sizeof(eh));
  std::string out(end, '\0');
  KCOREFS_RETURN_IF_ERROR(
      bytes.ReadAt(0, absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), end), deadline));
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Snapshot>> LiveElfCore::Current() {
  KCOREFS_ASSIGN_OR_RETURN(uint64_t size, size_fn_());
  const absl::Time deadline =
      timeout_ == absl::InfiniteDuration() ? io::NoDeadline() : absl::Now() + timeout_;
  KCOREFS_ASSIGN_OR_RETURN(std::string layout, LayoutBytes(*bytes_, size, deadline));
  absl::MutexLock lock(&mu_);
  if (snap_ != nullptr && size == size_ && layout == layout_) return snap_;
  if (snap_ != nullptr) {
    base::LogInfo(absl::StrCat(source_, " changed (size ", size_, " -> ", size,
                               layout == layout_ ? "" : ", new program headers",
                               "): re-reading its layout"));
  }
  KCOREFS_ASSIGN_OR_RETURN(ElfCoreContents core, ReadElfCore(bytes_, size));
  uint64_t epoch = snap_ == nullptr ? 1 : snap_->epoch + 1;
  SnapshotParts parts{std::move(core.map), std::move(core.hints), std::move(core.warnings),
                      format_, epoch, static_cast<int64_t>(std::time(nullptr))};
  KCOREFS_ASSIGN_OR_RETURN(snap_, BuildSnapshot(source_, std::move(parts), derive_));
  size_ = size;
  layout_ = std::move(layout);
  return snap_;
}

}  // namespace kcorefs::backends
