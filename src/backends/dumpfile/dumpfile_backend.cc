#include "backends/dumpfile/dumpfile_backend.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backends/common/elf_core.h"
#include "backends/common/snapshot_builder.h"
#include "backends/common/static_backend.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::backends {
namespace {

class DumpfileFactory final : public BackendFactory {
 public:
  absl::string_view name() const override { return "dumpfile"; }
  absl::string_view summary() const override {
    return "an ELF kernel core file: kdump vmcore, /proc/kcore copy, QEMU ELF dump";
  }
  int Probe(const ProbeInput& in) const override {
    bool file = in.kind == ProbeInput::Kind::kRegular || in.kind == ProbeInput::Kind::kBlockDevice;
    return file && absl::StartsWith(in.magic, "\x7f" "ELF") ? 50 : 0;
  }
  absl::StatusOr<std::unique_ptr<Backend>> Open(const std::string& source,
                                                const BackendConfig& config) const override {
    return OpenDumpfileBackend(source, config);
  }
};

KCOREFS_REGISTER_BACKEND(DumpfileFactory);

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> OpenDumpfileBackend(const std::string& path,
                                                             const BackendConfig& config) {
  KCOREFS_ASSIGN_OR_RETURN(auto file, io::FileByteSource::Open(path));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  KCOREFS_ASSIGN_OR_RETURN(ElfCoreContents core, ReadElfCore(file, file->size()));
  SnapshotParts parts{std::move(core.map), std::move(core.hints), std::move(core.warnings),
                      core.has_taskstruct ? "ELF core (/proc/kcore layout)" : "ELF core",
                      1, st.st_mtim.tv_sec};
  KCOREFS_ASSIGN_OR_RETURN(auto snap, BuildSnapshot(path, std::move(parts), config.derive));
  Capabilities caps;
  caps.fd_backed = true;
  return std::unique_ptr<Backend>(
      new StaticBackend("dumpfile", path, caps, std::move(file), std::move(snap)));
}

}  // namespace kcorefs::backends
