// `kcorefs mount`: open the backend first (so a bad source leaves nothing mounted), build
// the views once to report their warnings, then mount and serve until unmounted.
#ifndef KCOREFS_FUSE_MOUNT_H_
#define KCOREFS_FUSE_MOUNT_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "kcorefs/backends/backend.h"

namespace kcorefs::fuse {

struct MountOptions {
  std::string mountpoint;
  bool foreground = false;
  bool debug = false;
  bool single_thread = false;
  bool allow_other = false;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<mode_t> mode;
};

// Serves `backend` at options.mountpoint. Returns the process exit code.
int RunMount(std::unique_ptr<backends::Backend> backend, const MountOptions& options);

}  // namespace kcorefs::fuse

#endif  // KCOREFS_FUSE_MOUNT_H_
