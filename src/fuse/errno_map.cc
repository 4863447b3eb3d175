#include "fuse/errno_map.h"

#include <cerrno>

namespace kcorefs::fuse {

int SourceErrno(const absl::Status& status) { return status.ok() ? 0 : EIO; }

}  // namespace kcorefs::fuse
