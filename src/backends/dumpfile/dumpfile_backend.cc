#include "absl/strings/string_view.h"
#include "backends/dumpfile/dumpfile_backend.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "backends/common/elf_core.h"
#include "backends/common/snapshot_builder.h"
#include "backends/common/static_backend.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::backends {
absl::StatusOr<std::unique_ptr<Backend>> OpenDumpfileBackend(const std::string& path,
                                                             const BackendOptions& options) {
  KCOREFS_ASSIGN_OR_RETURN(auto file, io::FileByteSource::Open(path));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  KCOREFS_ASSIGN_OR_RETURN(ElfCoreContents core, ReadElfCore(file, file->size()));
  KCOREFS_ASSIGN_OR_RETURN(auto snap, BuildSnapshot(path, std::move(core.map), core.hints,
                                                    std::move(core.warnings), options, 1,
                                                    st.st_mtim.tv_sec));
  return std::unique_ptr<Backend>(
      new StaticBackend("dumpfile", path, /*live=*/false, std::move(file), std::move(snap)));
}

}  // namespace kcorefs::backends
