#include "fuse/errno_map.h"

#include <cerrno>

#include <gtest/gtest.h>

#include "kcorefs/base/errors.h"

namespace kcorefs::fuse {
namespace {

TEST(ErrnoMapTest, FaultsAndTransportFailuresAreEio) {
  EXPECT_EQ(StatusToErrno(base::FaultError(1, "x")), EIO);
  EXPECT_EQ(StatusToErrno(absl::UnavailableError("gone")), EIO);
  EXPECT_EQ(StatusToErrno(absl::DeadlineExceededError("slow")), EIO);
  EXPECT_EQ(StatusToErrno(absl::OutOfRangeError("truncated")), EIO);
}

TEST(ErrnoMapTest, OtherCodesKeepTheirMeaning) {
  EXPECT_EQ(StatusToErrno(absl::OkStatus()), 0);
  EXPECT_EQ(StatusToErrno(absl::NotFoundError("")), ENOENT);
  EXPECT_EQ(StatusToErrno(absl::PermissionDeniedError("")), EACCES);
  EXPECT_EQ(StatusToErrno(absl::InvalidArgumentError("")), EINVAL);
}

}  // namespace
}  // namespace kcorefs::fuse
