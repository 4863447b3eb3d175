#include "kcorefs/io/deadline_source.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "kcorefs/base/errors.h"
#include "tests/testing/fault_source.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::io {
namespace {

using testing::FaultByteSource;

// Slack for a loaded 2-core machine: deadlines must fire no earlier than set and not much
// later.
constexpr absl::Duration kSlack = absl::Seconds(2);

// Polls `pred` until it holds or `timeout` passes.
template <typename Pred>
bool Eventually(Pred pred, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time stop = absl::Now() + timeout;
  while (!pred()) {
    if (absl::Now() > stop) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// Starts a worker, so a later read is picked up at once even on a loaded machine (a
// read that times out before any worker takes it is dropped, not stalled).
void WarmUp(const ByteSource& src) {
  uint8_t b;
  EXPECT_TRUE(src.ReadAt(src.size() - 1, absl::MakeSpan(&b, 1), absl::Now() + absl::Seconds(10)).ok());
}

std::shared_ptr<DeadlineByteSource> Wrap(std::shared_ptr<const ByteSource> inner,
                                         DeadlineOptions options = {}) {
  auto s = DeadlineByteSource::Create(std::move(inner), options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : nullptr;
}

TEST(DeadlineByteSourceTest, ReadsGoThroughThePool) {
  auto inner = FaultByteSource::WithPattern(1 << 20);
  auto src = Wrap(inner);
  EXPECT_EQ(src->workers(), 0);  // lazily
  std::vector<uint8_t> buf(5000);
  KCOREFS_ASSERT_OK(src->ReadAt(12345, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 12345));
  EXPECT_EQ(src->workers(), 1);
  EXPECT_EQ(src->bytes_read(), 5000u);
  EXPECT_EQ(src->size(), 1u << 20);
  EXPECT_EQ(src->name(), inner->name());
  EXPECT_FALSE(src->fd().has_value());
}

TEST(DeadlineByteSourceTest, ReadManyIsOneInnerBatch) {
  auto inner = FaultByteSource::WithPattern(1 << 20);
  auto src = Wrap(inner);
  std::vector<uint8_t> a(100), b(4096), c(1);
  const ReadRequest reqs[] = {{0, absl::MakeSpan(a)}, {8192, absl::MakeSpan(b)},
                              {99999, absl::MakeSpan(c)}};
  KCOREFS_ASSERT_OK(src->ReadMany(reqs, absl::Now() + absl::Seconds(5)));
  EXPECT_TRUE(FaultByteSource::HasPattern(a, 0));
  EXPECT_TRUE(FaultByteSource::HasPattern(b, 8192));
  EXPECT_TRUE(FaultByteSource::HasPattern(c, 99999));
  auto log = inner->call_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(log[0].many);
  EXPECT_EQ(log[0].ranges.size(), 3u);
}

TEST(DeadlineByteSourceTest, InnerErrorsKeepTheirCodeAndKind) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Fail(0, 4096, base::ErrnoError(EFAULT, "read page"));
  inner->Fail(8192, 4096, base::FaultError(0x2000, "physical address"));
  auto src = Wrap(inner);
  std::vector<uint8_t> buf(16);
  absl::Status s = src->ReadAt(0, absl::MakeSpan(buf));
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kPermanent);
  EXPECT_NE(s.message().find("read page"), absl::string_view::npos);
  s = src->ReadAt(8192, absl::MakeSpan(buf));
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kFault);
  EXPECT_EQ(base::FaultAddress(s), 0x2000u);
}

TEST(DeadlineByteSourceTest, FiresOnABlockedReadAndThePoolRecoversAfterRelease) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto gate = inner->Block(0x3000, 4096);
  auto src = Wrap(inner);
  WarmUp(*src);
  std::vector<uint8_t> buf(4096, 0xaa);
  const absl::Duration timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::Status s = src->ReadAt(0x3000, absl::MakeSpan(buf), start + timeout);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kTransient);
  EXPECT_GE(took, timeout);
  EXPECT_LT(took, timeout + kSlack);
  for (const char* part : {"4096 bytes", "0x3000", "fault://test", "no reply after"}) {
    EXPECT_TRUE(absl::StrContains(s.message(), part)) << s.message() << " lacks " << part;
  }
  EXPECT_EQ(src->stalled_reads(), 1);

  inner->Release(gate);
  ASSERT_TRUE(Eventually([&] { return src->stalled_reads() == 0; }));
  // The stuck read finished into the worker's buffer, never into ours.
  for (uint8_t b : buf) ASSERT_EQ(b, 0xaa);
  KCOREFS_ASSERT_OK(src->ReadAt(0x3000, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 0x3000));
  EXPECT_EQ(src->workers(), 1);  // the worker that was stuck serves again
}

TEST(DeadlineByteSourceTest, AStalledPoolFailsNewReadsAtOnce) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto gate = inner->Block(0, 4096);
  auto src = Wrap(inner, {.default_timeout = absl::Seconds(10), .max_workers = 2});
  std::vector<uint8_t> buf(64);
  // The second read starts a second worker; it has 500 ms to pick the read up.
  for (int i = 0; i < 2; ++i) {
    absl::Status s =
        src->ReadAt(0, absl::MakeSpan(buf), absl::Now() + absl::Milliseconds(500));
    ASSERT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  }
  EXPECT_EQ(src->stalled_reads(), 2);
  EXPECT_EQ(src->workers(), 2);

  // Even a read of healthy bytes with a generous deadline fails at once.
  const absl::Time start = absl::Now();
  absl::Status s = src->ReadAt(8192, absl::MakeSpan(buf), start + absl::Seconds(30));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kTransient);
  EXPECT_TRUE(absl::StrContains(s.message(), "2 reads to fault://test are stalled")) << s;
  EXPECT_EQ(src->workers(), 2);  // no third thread

  inner->Release(gate);
  ASSERT_TRUE(Eventually([&] { return src->stalled_reads() == 0; }));
  KCOREFS_ASSERT_OK(src->ReadAt(8192, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 8192));
}

TEST(DeadlineByteSourceTest, QueuedReadsWaitForABusyWorker) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  inner->Delay(0, 4096, absl::Milliseconds(100));
  auto src = Wrap(inner, {.default_timeout = absl::Seconds(10), .max_workers = 1});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      std::vector<uint8_t> buf(512);
      if (src->ReadAt(i * 512, absl::MakeSpan(buf), absl::Now() + absl::Seconds(20)).ok() &&
          FaultByteSource::HasPattern(buf, i * 512)) {
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(src->workers(), 1);
}

TEST(DeadlineByteSourceTest, AQueuedReadThatTimesOutNeverRuns) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto gate = inner->Block(0, 4096);
  auto src = Wrap(inner, {.default_timeout = absl::Seconds(10), .max_workers = 1});
  std::thread holder([&] {
    std::vector<uint8_t> buf(64);
    EXPECT_TRUE(src->ReadAt(0, absl::MakeSpan(buf), absl::Now() + absl::Seconds(20)).ok());
  });
  ASSERT_TRUE(inner->WaitForBlocked(1));
  std::vector<uint8_t> buf(64);
  absl::Status s = src->ReadAt(8192, absl::MakeSpan(buf), absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(absl::StrContains(s.message(), "never started")) << s;
  EXPECT_EQ(src->stalled_reads(), 0);  // its caller is still waiting: busy, not stalled
  inner->Release(gate);
  holder.join();
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(inner->ReadsOf(8192, 64), 0u);  // dropped from the queue, not run late
}

TEST(DeadlineByteSourceTest, ADefaultTimeoutAppliesWithoutADeadline) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto gate = inner->Block(0, 4096);
  auto src = Wrap(inner, {.default_timeout = absl::Milliseconds(150), .max_workers = 2});
  std::vector<uint8_t> buf(64);
  const absl::Time start = absl::Now();
  absl::Status s = src->ReadAt(0, absl::MakeSpan(buf));  // NoDeadline()
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(150) + kSlack);
  inner->Release(gate);
}

TEST(DeadlineByteSourceTest, ADeadlineAlreadyPastNeverReachesTheInnerSource) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto src = Wrap(inner);
  std::vector<uint8_t> buf(64);
  absl::Status s = src->ReadAt(0, absl::MakeSpan(buf), absl::Now() - absl::Milliseconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(inner->calls(), 0u);
  EXPECT_EQ(src->workers(), 0);
}

TEST(DeadlineByteSourceTest, DestructionDoesNotWaitForAStuckWorker) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto gate = inner->Block(0, 4096);
  auto src = Wrap(inner);
  WarmUp(*src);
  std::vector<uint8_t> buf(64);
  EXPECT_FALSE(src->ReadAt(0, absl::MakeSpan(buf), absl::Now() + absl::Milliseconds(300)).ok());
  ASSERT_EQ(src->stalled_reads(), 1);
  const absl::Time start = absl::Now();
  src.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  // The detached worker still holds the inner source and finishes once released.
  EXPECT_EQ(inner->blocked(), 1);
  inner->Release(gate);
  EXPECT_TRUE(Eventually([&] { return inner->blocked() == 0; }));
}

TEST(DeadlineByteSourceTest, ExtentsRunOnThePool) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto src = Wrap(inner);
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto extents, src->Extents(100, 200));
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0].offset, 100u);
  EXPECT_EQ(extents[0].length, 200u);
  EXPECT_EQ(src->workers(), 1);
}

TEST(DeadlineByteSourceTest, APoolUsedBeforeAForkIsReplacedInTheChild) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto src = Wrap(inner);
  std::vector<uint8_t> buf(64);
  KCOREFS_ASSERT_OK(src->ReadAt(0, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
  ASSERT_EQ(src->workers(), 1);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::alarm(20);  // a hang kills the child, and the test sees it
    // The parent's worker does not exist here: a pool that did not notice would leave
    // this read queued until its deadline.
    int rc = src->workers() == 0 ? 0 : 3;
    absl::Status s = src->ReadAt(100, absl::MakeSpan(buf), absl::Now() + absl::Seconds(10));
    if (rc == 0 && !s.ok()) rc = 1;
    if (rc == 0 && !FaultByteSource::HasPattern(buf, 100)) rc = 2;
    ::_exit(rc);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child was killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  KCOREFS_ASSERT_OK(src->ReadAt(0, absl::MakeSpan(buf), absl::Now() + absl::Seconds(5)));
}

TEST(DeadlineByteSourceTest, ManyThreadsReadCorrectBytes) {
  auto inner = FaultByteSource::WithPattern(1 << 20);
  auto src = Wrap(inner, {.default_timeout = absl::Seconds(20), .max_workers = 3});
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buf(777);
      for (int i = 0; i < 200; ++i) {
        const uint64_t off = (t * 7919 + i * 104729) % ((1 << 20) - 777);
        if (!src->ReadAt(off, absl::MakeSpan(buf)).ok() || !FaultByteSource::HasPattern(buf, off)) {
          ++bad;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(src->workers(), 3);
}

TEST(DeadlineByteSourceTest, CreateRefusesBadOptions) {
  auto inner = FaultByteSource::WithPattern(16);
  EXPECT_EQ(DeadlineByteSource::Create(inner, {.max_workers = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeadlineByteSource::Create(inner, {.default_timeout = absl::ZeroDuration()})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeadlineByteSource::Create(nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kcorefs::io
