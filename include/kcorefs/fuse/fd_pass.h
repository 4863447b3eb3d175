// Mounting for an unprivileged server: a privileged process opens /dev/fuse, mounts it
// (mount(2), which needs CAP_SYS_ADMIN) and hands the open /dev/fuse descriptor over a
// unix socket (SCM_RIGHTS) to a kcorefs that has no privilege at all; that one serves
// /dev/fd/N, libfuse's name for a mount made by someone else. docs/sidecar.md.
#ifndef KCOREFS_FUSE_FD_PASS_H_
#define KCOREFS_FUSE_FD_PASS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kcorefs/base/unique_fd.h"

namespace kcorefs::fuse {

struct PremountOptions {
  std::string mountpoint;
  uid_t server_uid = 0;  // who will serve (FUSE's user_id: the only user let in without allow_other)
  gid_t server_gid = 0;
  bool allow_other = false;  // always with default_permissions
  bool nonempty = false;
  uint32_t max_read = 1 << 20;  // must be what the server will use (RunMount: FdMaxRead())
};

// The max_read both sides use for a mount made by PremountFuse (what a normal mount of
// this machine takes; defined in mount.cc).
uint32_t FdMaxRead();

// Opens /dev/fuse and mounts it read-only, nosuid, nodev at options.mountpoint.
absl::StatusOr<base::UniqueFd> PremountFuse(const PremountOptions& options);

// Listens on `socket_path` (mode 0600, owned by `owner`), and sends `fd` to the first
// client by `deadline`. The socket file is removed before returning.
absl::Status SendFdOnce(const std::string& socket_path, int fd, uid_t owner, gid_t group,
                        absl::Time deadline);

// Connects to `socket_path` (waiting for it to appear until `deadline`) and receives one
// descriptor, which must be /dev/fuse.
absl::StatusOr<base::UniqueFd> ReceiveFuseFd(const std::string& socket_path, absl::Time deadline);

// N when `mountpoint` is "/dev/fd/N".
std::optional<int> PremountedFd(const std::string& mountpoint);

}  // namespace kcorefs::fuse

#endif  // KCOREFS_FUSE_FD_PASS_H_
