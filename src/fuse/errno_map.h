// The one place a Status becomes an errno (the table is published in docs/errors.md).
#ifndef KCOREFS_FUSE_ERRNO_MAP_H_
#define KCOREFS_FUSE_ERRNO_MAP_H_

#include "absl/status/status.h"

namespace kcorefs::fuse {

// Any failure of the source or of building a view, whatever its code or errno: EIO. A
// reader cannot act on EINVAL or ENOENT from a pread of a file it has open, and a fault,
// a truncated dump and a remote that is gone are all "these bytes cannot be read".
// The errnos the mount gives for other reasons (ENOENT for a name it does not have, EROFS
// for a write, EISDIR, ENOTDIR, EINVAL for a negative offset) are set where they arise.
int SourceErrno(const absl::Status& status);

}  // namespace kcorefs::fuse

#endif  // KCOREFS_FUSE_ERRNO_MAP_H_
