#include <cerrno>

#include <gtest/gtest.h>

#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"

namespace kcorefs::base {
namespace {

TEST(CheckedMathTest, AddDetectsOverflow) {
  EXPECT_EQ(CheckedAdd(1, 2), 3u);
  EXPECT_FALSE(CheckedAdd(~0ull, 1).has_value());
  EXPECT_FALSE(CheckedMul(1ull << 40, 1ull << 30).has_value());
}

TEST(CheckedMathTest, RangeWithinRejectsWrapAndPastEnd) {
  EXPECT_TRUE(RangeWithin(0, 10, 10));
  EXPECT_FALSE(RangeWithin(1, 10, 10));
  EXPECT_FALSE(RangeWithin(~0ull - 1, 4, ~0ull));
}

TEST(ErrorsTest, FaultCarriesItsAddress) {
  absl::Status s = FaultError(0x1234, "physical address");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(FaultAddress(s), 0x1234u);
  EXPECT_NE(s.message().find("0x1234"), absl::string_view::npos);
  EXPECT_FALSE(FaultAddress(absl::InternalError("x")).has_value());
}

TEST(ErrorsTest, AnnotateKeepsCodeAndPayload) {
  absl::Status s = Annotate(FaultError(0x10, "x"), "reading vmcore");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(FaultAddress(s), 0x10u);
  EXPECT_EQ(s.message().substr(0, 14), "reading vmcore");
}

TEST(ErrorsTest, ErrnoErrorNamesTheOperation) {
  absl::Status s = ErrnoError(ENOENT, "open /x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("open /x"), absl::string_view::npos);
}

}  // namespace
}  // namespace kcorefs::base
