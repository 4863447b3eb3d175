#include "kcorefs/io/retry_source.h"

#include <cerrno>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/io/deadline_source.h"
#include "tests/testing/fault_source.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::io {
namespace {

using testing::FaultByteSource;

constexpr absl::Duration kSlack = absl::Seconds(2);

RetryOptions Fast(int attempts) {
  return {.max_attempts = attempts,
          .initial_delay = absl::Milliseconds(1),
          .max_delay = absl::Milliseconds(4)};
}

std::shared_ptr<RetryByteSource> Wrap(std::shared_ptr<const ByteSource> inner,
                                      RetryOptions options) {
  auto s = RetryByteSource::Create(std::move(inner), options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : nullptr;
}

TEST(RetryByteSourceTest, SucceedsAfterTransientFailures) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Fail(0, 4096, base::TransientError("link down"), /*times=*/3);
  auto src = Wrap(inner, Fast(4));
  std::vector<uint8_t> buf(100);
  KCOREFS_ASSERT_OK(src->ReadAt(1000, absl::MakeSpan(buf)));
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 1000));
  EXPECT_EQ(inner->ReadsOf(1000, 100), 4u);
  EXPECT_EQ(src->retries(), 3u);
  EXPECT_EQ(src->bytes_read(), 100u);
}

TEST(RetryByteSourceTest, TransientErrnoIsRetriedToo) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Fail(0, 4096, base::ErrnoError(ECONNRESET, "recv"), /*times=*/1);
  auto src = Wrap(inner, Fast(2));
  std::vector<uint8_t> buf(10);
  KCOREFS_ASSERT_OK(src->ReadAt(0, absl::MakeSpan(buf)));
  EXPECT_EQ(inner->ReadsOf(0, 10), 2u);
}

TEST(RetryByteSourceTest, GivesUpAfterMaxAttemptsKeepingTheKind) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Fail(0, 4096, base::TransientError("link down"));
  auto src = Wrap(inner, Fast(3));
  std::vector<uint8_t> buf(10);
  absl::Status s = src->ReadAt(0, absl::MakeSpan(buf));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kTransient);
  EXPECT_TRUE(absl::StrContains(s.message(), "gave up after 3 attempts")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "link down")) << s;
  EXPECT_EQ(inner->ReadsOf(0, 10), 3u);
}

TEST(RetryByteSourceTest, PermanentErrorsAndFaultsAreNotRetried) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Fail(0, 4096, base::ErrnoError(ENXIO, "read"));
  inner->Fail(4096, 4096, base::ErrnoError(EFAULT, "read"));
  inner->Fail(8192, 4096, base::FaultError(0xffff888000000000ull, "virtual address"));
  auto src = Wrap(inner, Fast(5));
  std::vector<uint8_t> buf(10);
  absl::Status s = src->ReadAt(0, absl::MakeSpan(buf));
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kPermanent);
  s = src->ReadAt(4096, absl::MakeSpan(buf));
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kPermanent);
  s = src->ReadAt(8192, absl::MakeSpan(buf));
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kFault);
  EXPECT_EQ(base::FaultAddress(s), 0xffff888000000000ull);
  // Past the end: OutOfRange, permanent.
  EXPECT_EQ(src->ReadAt(1 << 16, absl::MakeSpan(buf)).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(inner->calls(), 4u);
  EXPECT_EQ(src->retries(), 0u);
}

TEST(RetryByteSourceTest, RetriesUntilTheDeadlineAndNoLonger) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Fail(0, 4096, base::TransientError("busy"));
  auto src = Wrap(inner, {.max_attempts = 1000,
                          .initial_delay = absl::Milliseconds(40),
                          .max_delay = absl::Milliseconds(40)});
  std::vector<uint8_t> buf(10);
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Milliseconds(300);
  absl::Status s = src->ReadAt(0, absl::MakeSpan(buf), deadline);
  const absl::Time end = absl::Now();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(s.message(), "out of time")) << s;
  // It stopped only when one more sleep would have ended past the deadline.
  EXPECT_GE(end - start, absl::Milliseconds(300) - absl::Milliseconds(40));
  EXPECT_LT(end, deadline + kSlack);
  // Attempts are at least 40 ms apart and none starts after the deadline.
  EXPECT_GE(inner->calls(), 2u);
  EXPECT_LE(inner->calls(), 8u);
}

TEST(RetryByteSourceTest, NeverSleepsPastTheDeadline) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Fail(0, 4096, base::TransientError("busy"));
  auto src = Wrap(inner, {.max_attempts = 10, .initial_delay = absl::Seconds(5)});
  std::vector<uint8_t> buf(10);
  const absl::Time start = absl::Now();
  absl::Status s = src->ReadAt(0, absl::MakeSpan(buf), start + absl::Milliseconds(300));
  // A 5 s sleep cannot fit before the deadline, so the first failure is the answer.
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(inner->calls(), 1u);
  EXPECT_EQ(src->retries(), 0u);
}

TEST(RetryByteSourceTest, BackoffGrowsUpToTheMaximum) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Fail(0, 4096, base::TransientError("busy"), /*times=*/4);
  auto src = Wrap(inner, {.max_attempts = 5,
                          .initial_delay = absl::Milliseconds(20),
                          .max_delay = absl::Milliseconds(60),
                          .multiplier = 2});
  std::vector<uint8_t> buf(10);
  const absl::Time start = absl::Now();
  KCOREFS_ASSERT_OK(src->ReadAt(0, absl::MakeSpan(buf)));
  // 20 + 40 + 60 + 60 ms of sleep.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(180));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(180) + kSlack);
}

TEST(RetryByteSourceTest, AnAttemptTimeoutLeavesTimeForAnotherAttempt) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto gate = inner->Block(0, 4096, /*times=*/1);  // the first attempt never answers
  auto deadline = DeadlineByteSource::Create(inner, {.max_workers = 2});
  ASSERT_TRUE(deadline.ok());
  auto src = Wrap(*deadline, {.max_attempts = 3,
                              .initial_delay = absl::Milliseconds(1),
                              .attempt_timeout = absl::Milliseconds(100)});
  std::vector<uint8_t> buf(10);
  // A worker is running first, so the first attempt reaches the inner source in time.
  KCOREFS_ASSERT_OK(src->ReadAt(8192, absl::MakeSpan(buf), absl::Now() + absl::Seconds(10)));
  KCOREFS_ASSERT_OK(src->ReadAt(0, absl::MakeSpan(buf), absl::Now() + absl::Seconds(10)));
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 0));
  EXPECT_EQ(inner->ReadsOf(0, 10), 2u);
  EXPECT_EQ(src->retries(), 1u);
  inner->Release(gate);
}

TEST(RetryByteSourceTest, AFailedBatchIsRetriedWhole) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Fail(8192, 10, base::TransientError("reset"), /*times=*/1);
  auto src = Wrap(inner, Fast(2));
  std::vector<uint8_t> a(10), b(10);
  const ReadRequest reqs[] = {{0, absl::MakeSpan(a)}, {8192, absl::MakeSpan(b)}};
  KCOREFS_ASSERT_OK(src->ReadMany(reqs));
  EXPECT_TRUE(FaultByteSource::HasPattern(a, 0));
  EXPECT_TRUE(FaultByteSource::HasPattern(b, 8192));
  EXPECT_EQ(inner->calls(), 2u);
  EXPECT_EQ(inner->ReadsOf(0, 10), 2u);
}

TEST(RetryByteSourceTest, CreateRefusesBadOptions) {
  auto inner = FaultByteSource::WithPattern(16);
  EXPECT_FALSE(RetryByteSource::Create(inner, {.max_attempts = 0}).ok());
  EXPECT_FALSE(RetryByteSource::Create(inner, {.initial_delay = absl::Milliseconds(-1)}).ok());
  EXPECT_FALSE(RetryByteSource::Create(inner, {.multiplier = 0.5}).ok());
  EXPECT_TRUE(RetryByteSource::Create(inner).ok());
}

}  // namespace
}  // namespace kcorefs::io
