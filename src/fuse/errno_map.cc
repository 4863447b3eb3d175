#include "fuse/errno_map.h"

#include <cerrno>

namespace kcorefs::fuse {

int StatusToErrno(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return 0;
    case absl::StatusCode::kNotFound: return ENOENT;
    case absl::StatusCode::kPermissionDenied: return EACCES;
    case absl::StatusCode::kInvalidArgument: return EINVAL;
    case absl::StatusCode::kResourceExhausted: return ENOMEM;
    case absl::StatusCode::kUnimplemented: return ENOSYS;
    // A fault (DataLoss), a truncated source (OutOfRange), a remote that is gone
    // (Unavailable) or slow (DeadlineExceeded): the read fails, the daemon stays up.
    default: return EIO;
  }
}

}  // namespace kcorefs::fuse
