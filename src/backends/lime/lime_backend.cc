// lime: LiME memory images (LiME's kernel module, and AVML's uncompressed output). The
// file holds physical ranges and nothing else: no VMCOREINFO (give --vmcoreinfo FILE or
// kcorefs scans the ranges for the kernel's note) and no registers. x86_64 only, as LiME
// records no architecture. docs/backends/kcorefs-lime-backend.7.md.
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backends/common/snapshot_builder.h"
#include "backends/common/static_backend.h"
#include "backends/lime/lime_index.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/kernel/arch.h"

namespace kcorefs::backends::lime {
namespace {

absl::StatusOr<std::unique_ptr<Backend>> OpenLime(const std::string& path,
                                                  const BackendConfig& config) {
  KCOREFS_ASSIGN_OR_RETURN(auto file, io::FileByteSource::Open(path));
  struct stat st;
  if (::fstat(*file->fd(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  KCOREFS_ASSIGN_OR_RETURN(LimeIndex index, ReadLimeIndex(*file, file->size()));
  std::vector<mem::Segment> segs;
  segs.reserve(index.ranges.size());
  for (const LimeRange& r : index.ranges) {
    segs.push_back({r.paddr, r.size, r.data_size, file, r.file_offset});
  }
  SnapshotParts parts;
  KCOREFS_ASSIGN_OR_RETURN(parts.map, mem::MemoryMap::Create(std::move(segs), {}));
  parts.hints.arch = &kernel::ArchX86_64();
  parts.warnings = std::move(index.warnings);
  parts.format = absl::StrCat("LiME memory image (", index.ranges.size(), " ranges)");
  parts.mtime = st.st_mtim.tv_sec;
  KCOREFS_ASSIGN_OR_RETURN(auto snap, BuildSnapshot(path, std::move(parts), config.derive));
  Capabilities caps;
  caps.fd_backed = true;
  return std::unique_ptr<Backend>(
      new StaticBackend("lime", path, caps, std::move(file), std::move(snap)));
}

class LimeFactory final : public BackendFactory {
 public:
  absl::string_view name() const override { return "lime"; }
  absl::string_view summary() const override {
    return "a LiME memory image (LiME, AVML without compression)";
  }
  int Probe(const ProbeInput& in) const override {
    bool file = in.kind == ProbeInput::Kind::kRegular || in.kind == ProbeInput::Kind::kBlockDevice;
    return file && absl::StartsWith(in.magic, "EMiL") ? 50 : 0;
  }
  absl::StatusOr<std::unique_ptr<Backend>> Open(const std::string& source,
                                                const BackendConfig& config) const override {
    return OpenLime(source, config);
  }
};

KCOREFS_REGISTER_BACKEND(LimeFactory);

}  // namespace
}  // namespace kcorefs::backends::lime
