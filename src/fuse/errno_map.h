// The one place a Status becomes an errno (the table is published in docs/errors.md).
#ifndef KCOREFS_FUSE_ERRNO_MAP_H_
#define KCOREFS_FUSE_ERRNO_MAP_H_

#include "absl/status/status.h"

namespace kcorefs::fuse {

int StatusToErrno(const absl::Status& status);

}  // namespace kcorefs::fuse

#endif  // KCOREFS_FUSE_ERRNO_MAP_H_
