// `kcorefs mount`: fork first (so no backend thread is lost to the fork), then in the
// serving process open the backend, build the views once to report their warnings, mount
// and serve until unmounted. The parent waits until the mount is ready or has failed, so
// the user sees every error and the exit status is the mount's.
#ifndef KCOREFS_FUSE_MOUNT_H_
#define KCOREFS_FUSE_MOUNT_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kcorefs/backends/backend.h"

namespace kcorefs::fuse {

struct MountOptions {
  std::string mountpoint;
  bool foreground = false;
  bool debug = false;
  bool single_thread = false;
  bool allow_other = false;
  bool nonempty = false;         // allow mounting over a non-empty directory
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<mode_t> mode;
  std::optional<bool> splice;    // unset: the measured default (docs/performance.md)
  std::optional<uint32_t> readahead_kib;  // unset: 4 requests' worth (docs/performance.md)
  bool direct_io = false;        // bypass the page cache for dump files too
  unsigned max_threads = 16;
  bool clone_fd = false;
  double read_timeout_s = 30;     // -o timeout=SECONDS: each read's deadline
};

using BackendOpener = std::function<absl::StatusOr<std::unique_ptr<backends::Backend>>()>;

// Refuses a mount point that is not a directory, is not empty (unless nonempty) or is
// already a mount point, saying what to do.
absl::Status CheckMountpoint(const std::string& path, bool nonempty);
// A mount point "/dev/fd/N" names an open /dev/fuse descriptor of a mount someone else made.
absl::Status CheckPremountedFd(int fd);

// Serves the backend `open` returns at options.mountpoint. Returns the exit code.
int RunMount(const BackendOpener& open, const MountOptions& options);

}  // namespace kcorefs::fuse

#endif  // KCOREFS_FUSE_MOUNT_H_
