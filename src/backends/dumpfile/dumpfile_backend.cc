#include "backends/dumpfile/dumpfile_backend.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backends/common/elf_core.h"
#include "backends/common/snapshot_builder.h"
#include "backends/dumpfile/watched_file.h"
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

// One snapshot for the file's life, as long as the file stays as it was opened: once it
// changed (WatchedFile), Current() fails too, so new opens and stats of the views are EIO
// rather than a header over bytes that are no longer there.
class DumpfileBackend final : public Backend {
 public:
  DumpfileBackend(std::string source, std::shared_ptr<const WatchedFile> file,
                  std::shared_ptr<const Snapshot> snap)
      : source_(std::move(source)), file_(std::move(file)), snap_(std::move(snap)) {}
  absl::string_view name() const override { return "dumpfile"; }
  const std::string& source() const override { return source_; }
  Capabilities capabilities() const override {
    Capabilities caps;
    caps.fd_backed = true;
    return caps;
  }
  absl::StatusOr<std::shared_ptr<const Snapshot>> Current() override {
    // Every open asks: an fstat, so an open after a change always sees it.
    KCOREFS_RETURN_IF_ERROR(file_->Check(WatchedFile::When::kNow));
    return snap_;
  }
  uint64_t bytes_read() const override { return file_->bytes_read(); }
  std::vector<std::pair<std::string, std::string>> Stats() const override {
    return {{"source_changed", file_->changed() ? "1" : "0"}};
  }

 private:
  std::string source_;
  std::shared_ptr<const WatchedFile> file_;
  std::shared_ptr<const Snapshot> snap_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> OpenDumpfileBackend(const std::string& path,
                                                             const BackendConfig& config) {
  KCOREFS_ASSIGN_OR_RETURN(auto file, WatchedFile::Open(path));
  struct stat st;
  if (::fstat(*file->fd(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  KCOREFS_ASSIGN_OR_RETURN(ElfCoreContents core, ReadElfCore(file, file->size()));
  SnapshotParts parts{std::move(core.map), std::move(core.hints), std::move(core.warnings),
                      core.has_taskstruct ? "ELF core (/proc/kcore layout)" : "ELF core",
                      1, st.st_mtim.tv_sec};
  KCOREFS_ASSIGN_OR_RETURN(auto snap, BuildSnapshot(path, std::move(parts), config.derive));
  // Derivation read the file: a change while it ran is caught here, not at the first read.
  KCOREFS_RETURN_IF_ERROR(file->Check(WatchedFile::When::kNow));
  return std::unique_ptr<Backend>(new DumpfileBackend(path, std::move(file), std::move(snap)));
}

}  // namespace kcorefs::backends
