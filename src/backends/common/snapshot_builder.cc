#include "backends/common/snapshot_builder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/unique_fd.h"

namespace kcorefs::backends {

absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(
    const std::string& source, mem::MemoryMap map, const kernel::KernelHints& hints,
    std::vector<std::string> warnings, const BackendOptions& options, uint64_t epoch,
    int64_t mtime) {
  auto facts = kernel::DeriveKernelFacts(map, hints, options.derive);
  if (!facts.ok()) return base::Annotate(facts.status(), source);
  auto snap = std::make_shared<Snapshot>();
  snap->epoch = epoch;
  snap->mtime = mtime;
  snap->map = std::move(map);
  snap->facts = std::move(*facts);
  snap->warnings = std::move(warnings);
  for (const std::string& w : snap->facts.warnings) snap->warnings.push_back(w);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t limit) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::ErrnoError(errno, absl::StrCat("open ", path));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is larger than ", limit, " bytes"));
    }
  }
  return out;
}

}  // namespace kcorefs::backends
