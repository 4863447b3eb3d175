#include "kcorefs/io/decorators.h"

#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "kcorefs/base/errors.h"
#include "tests/testing/fault_source.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::io {
namespace {

using testing::FaultByteSource;

RemoteOptions Quick() {
  RemoteOptions o;
  o.deadline.default_timeout = absl::Seconds(5);
  o.deadline.max_workers = 2;
  o.retry.initial_delay = absl::Milliseconds(1);
  o.retry.max_delay = absl::Milliseconds(5);
  o.cache_options.block_size = 4096;
  o.cache_options.capacity_bytes = 64 * 4096;
  o.cache_options.readahead_blocks = 0;
  return o;
}

TEST(WrapRemoteTest, StacksCacheOverRetryOverDeadline) {
  auto inner = FaultByteSource::WithPattern(64 * 4096);
  inner->Fail(0, 4096, base::TransientError("connection reset"), /*times=*/1);
  KCOREFS_ASSERT_OK_AND_ASSIGN(RemoteStack stack, BuildRemote(inner, Quick()));
  ASSERT_NE(stack.cache, nullptr);
  EXPECT_EQ(stack.source, stack.cache);
  EXPECT_EQ(stack.source->name(), inner->name());
  EXPECT_EQ(stack.source->size(), inner->size());
  std::vector<uint8_t> buf(100);
  // The transient failure is retried below the cache: the reader never sees it, and the
  // block is cached once.
  KCOREFS_ASSERT_OK(stack.source->ReadAt(10, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 10));
  EXPECT_EQ(stack.retry->retries(), 1u);
  KCOREFS_ASSERT_OK(stack.source->ReadAt(20, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
  EXPECT_EQ(inner->ReadsOf(0, 4096), 2u);
  EXPECT_EQ(stack.cache->stats().hits, 1u);
  EXPECT_EQ(stack.deadline->workers(), 1);
}

TEST(WrapRemoteTest, AStalledAttemptIsRetriedWithinTheCallersDeadline) {
  auto inner = FaultByteSource::WithPattern(64 * 4096);
  auto gate = inner->Block(0, 4096, /*times=*/1);
  RemoteOptions o = Quick();
  o.retry.attempt_timeout = absl::Milliseconds(100);
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto src, WrapRemote(inner, o));
  std::vector<uint8_t> buf(100);
  KCOREFS_ASSERT_OK(src->ReadAt(0, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 0));
  inner->Release(gate);
}

// The serial guard sits below the deadline: a read abandoned by its caller still holds
// the transport, so the next one waits for its turn instead of interleaving with it.
TEST(WrapRemoteTest, ASerialTransportIsNotSharedWithAnAbandonedRead) {
  auto inner = FaultByteSource::WithPattern(64 * 4096);
  auto gate = inner->Block(0, 4096);
  RemoteOptions o = Quick();
  o.serialized = true;
  o.retry.max_attempts = 1;
  o.cache = false;
  KCOREFS_ASSERT_OK_AND_ASSIGN(RemoteStack stack, BuildRemote(inner, o));
  EXPECT_EQ(stack.cache, nullptr);
  std::vector<uint8_t> buf(100);
  // A worker is running before the timed reads, so the first is taken at once.
  KCOREFS_ASSERT_OK(stack.source->ReadAt(4096, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
  inner->ClearLog();
  absl::Status s =
      stack.source->ReadAt(0, absl::MakeSpan(buf), absl::Now() + absl::Milliseconds(300));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  s = stack.source->ReadAt(8192, absl::MakeSpan(buf), absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(inner->calls(), 1u);  // the second read never reached the wire
  inner->Release(gate);
  const absl::Time stop = absl::Now() + absl::Seconds(10);
  while (stack.deadline->stalled_reads() > 0 && absl::Now() < stop) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  KCOREFS_ASSERT_OK(stack.source->ReadAt(8192, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 8192));
}

TEST(WrapRemoteTest, RefusesBadOptions) {
  auto inner = FaultByteSource::WithPattern(4096);
  RemoteOptions o = Quick();
  o.cache_options.block_size = 1000;
  EXPECT_EQ(WrapRemote(inner, o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WrapRemote(nullptr, Quick()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kcorefs::io
