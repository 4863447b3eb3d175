#include "fuse/errno_map.h"

#include <cerrno>

#include <gtest/gtest.h>

#include "kcorefs/base/errors.h"

namespace kcorefs::fuse {
namespace {

TEST(ErrnoMapTest, EverySourceFailureIsEio) {
  EXPECT_EQ(SourceErrno(absl::OkStatus()), 0);
  EXPECT_EQ(SourceErrno(base::FaultError(1, "x")), EIO);
  EXPECT_EQ(SourceErrno(base::TransientError("gone")), EIO);
  EXPECT_EQ(SourceErrno(base::DeadlineError("slow")), EIO);
  EXPECT_EQ(SourceErrno(absl::OutOfRangeError("truncated")), EIO);
  // pread's own errnos must not leak through as other meanings: EFAULT became EINVAL,
  // ENXIO became ENOENT and EPERM became EACCES through absl's errno codes.
  for (int err : {EFAULT, ENXIO, EPERM, EACCES, ENOENT, EINVAL, EIO, ENOMEM, ENOSYS}) {
    EXPECT_EQ(SourceErrno(base::ErrnoError(err, "pread")), EIO) << err;
  }
}

}  // namespace
}  // namespace kcorefs::fuse
