#include "kcorefs/io/block_cache.h"

#include <cerrno>
#include <cstdlib>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "kcorefs/base/errors.h"
#include "tests/testing/fault_source.h"
#include "tests/testing/status_matchers.h"

// Allocations made by the current thread while counting, to show a hit allocates nothing.
namespace {
thread_local bool counting_allocations = false;
thread_local int allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (counting_allocations) ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// GCC cannot see that operator new above is malloc.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace kcorefs::io {
namespace {

using testing::FaultByteSource;

constexpr uint64_t kBlock = 4096;

CacheOptions Small(uint64_t blocks, uint32_t readahead = 0) {
  return {.block_size = kBlock, .capacity_bytes = blocks * kBlock, .readahead_blocks = readahead};
}

std::shared_ptr<CachingByteSource> Wrap(std::shared_ptr<const ByteSource> inner,
                                        CacheOptions options) {
  auto s = CachingByteSource::Create(std::move(inner), options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : nullptr;
}

// Reads and checks the pattern; returns false on either failure.
bool ReadOk(const ByteSource& src, uint64_t offset, uint64_t length,
            absl::Time deadline = NoDeadline()) {
  std::vector<uint8_t> buf(length);
  absl::Status s = src.ReadAt(offset, absl::MakeSpan(buf), deadline);
  EXPECT_TRUE(s.ok()) << s;
  return s.ok() && FaultByteSource::HasPattern(buf, offset);
}

uint8_t ByteAt(const ByteSource& src, uint64_t offset) {
  uint8_t b = 0;
  EXPECT_TRUE(src.ReadAt(offset, absl::MakeSpan(&b, 1)).ok());
  return b;
}

TEST(BlockCacheTest, CountsHitsAndMisses) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  auto cache = Wrap(inner, Small(16));
  EXPECT_TRUE(ReadOk(*cache, 0, 100));
  EXPECT_TRUE(ReadOk(*cache, 100, 100));
  EXPECT_TRUE(ReadOk(*cache, 4000, 200));  // block 0 (hit) and block 1 (miss)
  CacheStats s = cache->stats();
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.inner_reads, 2u);
  EXPECT_EQ(s.inner_bytes, 2 * kBlock);
  EXPECT_EQ(s.resident_bytes, 2 * kBlock);
  EXPECT_EQ(s.capacity_bytes, 16 * kBlock);
  EXPECT_EQ(inner->calls(), 2u);
  EXPECT_EQ(cache->bytes_read(), 400u);
}

TEST(BlockCacheTest, AHitAllocatesNothing) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  auto cache = Wrap(inner, Small(16, /*readahead=*/4));
  std::vector<uint8_t> buf(3 * kBlock);
  KCOREFS_ASSERT_OK(cache->ReadAt(100, absl::MakeSpan(buf)));  // fills blocks 0-7
  KCOREFS_ASSERT_OK(cache->ReadAt(200, absl::MakeSpan(buf)));  // this thread's first hit
  allocations = 0;
  counting_allocations = true;
  for (int i = 0; i < 100; ++i) {
    if (!cache->ReadAt(i * 10, absl::MakeSpan(buf)).ok()) break;
  }
  counting_allocations = false;
  EXPECT_EQ(allocations, 0);
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 990));
  EXPECT_EQ(inner->calls(), 1u);
  // The counter works: a miss allocates its block.
  allocations = 0;
  counting_allocations = true;
  KCOREFS_ASSERT_OK(cache->ReadAt(40 * kBlock, absl::MakeSpan(buf)));
  counting_allocations = false;
  EXPECT_GT(allocations, 0);
}

TEST(BlockCacheTest, AdjacentMissesAreOneInnerReadMany) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  auto cache = Wrap(inner, Small(16));
  EXPECT_TRUE(ReadOk(*cache, kBlock + 10, 4 * kBlock));  // blocks 1..5
  auto log = inner->call_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(log[0].many);
  ASSERT_EQ(log[0].ranges.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(log[0].ranges[i].first, (i + 1) * kBlock);
    EXPECT_EQ(log[0].ranges[i].second, kBlock);
  }
  // A later read with holes in it fetches only the holes, still in one call.
  EXPECT_TRUE(ReadOk(*cache, 0, 8 * kBlock));
  log = inner->call_log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].ranges.size(), 3u);  // blocks 0, 6, 7
}

TEST(BlockCacheTest, SingleFlightUnderConcurrency) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  inner->Delay(0, kBlock, absl::Milliseconds(300));
  auto cache = Wrap(inner, Small(16));
  absl::Notification go;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      go.WaitForNotification();
      if (ReadOk(*cache, i * 64, 512)) ++ok;
    });
  }
  go.Notify();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(inner->ReadsOf(0, kBlock), 1u);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.coalesced + s.hits, 7u);
}

TEST(BlockCacheTest, RespectsItsBoundAndEvictsTheLeastRecentlyUsed) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  auto cache = Wrap(inner, Small(4));
  for (uint64_t b = 0; b < 4; ++b) EXPECT_TRUE(ReadOk(*cache, b * kBlock, 10));
  EXPECT_TRUE(ReadOk(*cache, 0, 10));          // block 0 becomes the most recent
  EXPECT_TRUE(ReadOk(*cache, 4 * kBlock, 10));  // evicts block 1, the least recent
  EXPECT_EQ(cache->stats().evictions, 1u);
  EXPECT_TRUE(ReadOk(*cache, 0, 10));
  EXPECT_EQ(inner->ReadsOf(0, kBlock), 1u);  // still cached
  EXPECT_TRUE(ReadOk(*cache, kBlock, 10));
  EXPECT_EQ(inner->ReadsOf(kBlock, kBlock), 2u);  // was evicted
  for (uint64_t b = 10; b < 40; ++b) {
    EXPECT_TRUE(ReadOk(*cache, b * kBlock, kBlock));
    EXPECT_LE(cache->stats().resident_bytes, 4 * kBlock);
  }
  // A read larger than the whole cache goes around it, leaving what is cached alone.
  const CacheStats before = cache->stats();
  EXPECT_TRUE(ReadOk(*cache, 40 * kBlock + 5, 10 * kBlock));
  EXPECT_EQ(cache->stats().read_through_bytes, before.read_through_bytes + 10 * kBlock);
  EXPECT_EQ(cache->stats().evictions, before.evictions);
  EXPECT_TRUE(ReadOk(*cache, 39 * kBlock - 1, 2));  // blocks 38 and 39 are still cached
  EXPECT_EQ(cache->stats().misses, before.misses);
}

TEST(BlockCacheTest, TtlZeroNeverServesCachedBytes) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  CacheOptions o = Small(16, 8);
  o.ttl = absl::ZeroDuration();
  auto cache = Wrap(inner, o);
  EXPECT_TRUE(ReadOk(*cache, 0, 100));
  EXPECT_TRUE(ReadOk(*cache, 0, 100));
  EXPECT_EQ(inner->calls(), 2u);
  inner->Write(50, "\x5a");
  EXPECT_EQ(ByteAt(*cache, 50), 0x5a);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.resident_bytes, 0u);
  EXPECT_EQ(s.read_through_bytes, 201u);
}

TEST(BlockCacheTest, AChangedByteIsVisibleOnceTheTtlPassed) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  CacheOptions o = Small(16);
  o.ttl = absl::Milliseconds(200);
  auto cache = Wrap(inner, o);
  const uint8_t before = FaultByteSource::Pattern(70);
  const absl::Time fetched = absl::Now();
  EXPECT_EQ(ByteAt(*cache, 70), before);
  inner->Write(70, "\xee");
  const uint8_t seen = ByteAt(*cache, 70);
  // Within the ttl the cached byte may still be served (how soon the next read ran on a
  // loaded machine decides whether it was).
  if (absl::Now() - fetched < absl::Milliseconds(200)) {
    EXPECT_EQ(seen, before);
  }
  absl::SleepFor(absl::Milliseconds(250));
  EXPECT_EQ(ByteAt(*cache, 70), 0xee);
  EXPECT_GE(cache->stats().expired, 1u);
}

TEST(BlockCacheTest, AnImmutableSourceKeepsServingWhatWasCached) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  auto cache = Wrap(inner, Small(16));  // ttl infinite
  const uint8_t before = ByteAt(*cache, 70);
  inner->Write(70, "\xee");
  EXPECT_EQ(ByteAt(*cache, 70), before);
  cache->Clear();
  EXPECT_EQ(ByteAt(*cache, 70), 0xee);
}

TEST(BlockCacheTest, ErrorsAreNotCached) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  inner->Fail(kBlock, kBlock, base::TransientError("link down"), /*times=*/1);
  inner->Fail(2 * kBlock, kBlock, base::FaultError(2 * kBlock, "page"), /*times=*/1);
  auto cache = Wrap(inner, Small(16));
  std::vector<uint8_t> buf(10);
  absl::Status s = cache->ReadAt(kBlock, absl::MakeSpan(buf));
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kTransient);
  s = cache->ReadAt(2 * kBlock, absl::MakeSpan(buf));
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kFault);
  EXPECT_EQ(cache->stats().resident_bytes, 0u);
  EXPECT_TRUE(ReadOk(*cache, kBlock, 10));
  EXPECT_TRUE(ReadOk(*cache, 2 * kBlock, 10));
  EXPECT_EQ(inner->ReadsOf(kBlock, kBlock), 2u);
  EXPECT_EQ(inner->ReadsOf(2 * kBlock, kBlock), 2u);
}

TEST(BlockCacheTest, WaitersFetchAgainWhenTheFetchTheyWaitedForFails) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  inner->Delay(0, kBlock, absl::Milliseconds(300), /*times=*/1);
  inner->Fail(0, kBlock, base::TransientError("link down"), /*times=*/1);
  auto cache = Wrap(inner, Small(16));
  absl::Notification go;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      go.WaitForNotification();
      std::vector<uint8_t> buf(kBlock);
      absl::Status s = cache->ReadAt(0, absl::MakeSpan(buf));
      if (s.ok() && FaultByteSource::HasPattern(buf, 0)) ++ok;
      if (!s.ok()) ++failed;
    });
  }
  go.Notify();
  for (auto& t : threads) t.join();
  // The first fetch failed its own reader only; everyone who had waited got the bytes.
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ(ok.load(), 5);
  EXPECT_EQ(inner->ReadsOf(0, kBlock), 2u);
}

TEST(BlockCacheTest, AWaiterGivesUpAtItsOwnDeadline) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  auto gate = inner->Block(0, kBlock);
  auto cache = Wrap(inner, Small(16));
  std::thread leader([&] { EXPECT_TRUE(ReadOk(*cache, 0, 10)); });
  ASSERT_TRUE(inner->WaitForBlocked(1));
  std::vector<uint8_t> buf(10);
  const absl::Time start = absl::Now();
  absl::Status s = cache->ReadAt(0, absl::MakeSpan(buf), start + absl::Milliseconds(100));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  inner->Release(gate);
  leader.join();
  EXPECT_EQ(inner->ReadsOf(0, kBlock), 1u);
  EXPECT_TRUE(ReadOk(*cache, 0, 10));
}

TEST(BlockCacheTest, ReadaheadOnASequentialScan) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  auto cache = Wrap(inner, Small(64, /*readahead=*/8));
  for (uint64_t b = 0; b < 32; ++b) ASSERT_TRUE(ReadOk(*cache, b * kBlock, kBlock));
  // Each miss fetched itself and the 8 blocks after it, in one batch.
  auto log = inner->call_log();
  ASSERT_EQ(log.size(), 4u);
  for (size_t c = 0; c < log.size(); ++c) {
    ASSERT_EQ(log[c].ranges.size(), 9u) << "call " << c;
    for (size_t i = 0; i < 9; ++i) EXPECT_EQ(log[c].ranges[i].first, (c * 9 + i) * kBlock);
  }
  for (uint64_t b = 0; b < 36; ++b) EXPECT_EQ(inner->ReadsOf(b * kBlock, kBlock), 1u);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.readahead, 32u);
  EXPECT_EQ(s.hits, 28u);
}

TEST(BlockCacheTest, AReadThatOvertookItsPredecessorStillGetsReadahead) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  auto cache = Wrap(inner, Small(64, /*readahead=*/4));
  for (uint64_t b : {0, 2, 4}) ASSERT_TRUE(ReadOk(*cache, b * kBlock, 2 * kBlock));
  ASSERT_EQ(inner->calls(), 1u);  // blocks 0-1 and 2-5 ahead
  // Two workers carried reads 6-7 and 8-9; the second arrived first.
  ASSERT_TRUE(ReadOk(*cache, 8 * kBlock, 2 * kBlock));
  auto log = inner->call_log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].ranges.size(), 6u);  // 8, 9 and 10-13 ahead
  ASSERT_TRUE(ReadOk(*cache, 6 * kBlock, 2 * kBlock));
}

TEST(BlockCacheTest, RandomReadsGetNoReadahead) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  auto cache = Wrap(inner, Small(64, /*readahead=*/8));
  for (uint64_t b : {40, 10, 30, 3, 50}) ASSERT_TRUE(ReadOk(*cache, b * kBlock + 7, 100));
  for (const auto& call : inner->call_log()) EXPECT_EQ(call.ranges.size(), 1u);
  EXPECT_EQ(cache->stats().readahead, 0u);
}

TEST(BlockCacheTest, ReadaheadStopsAtTheEndOfTheSource) {
  auto inner = FaultByteSource::WithPattern(10 * kBlock);
  auto cache = Wrap(inner, Small(64, /*readahead=*/16));
  ASSERT_TRUE(ReadOk(*cache, 0, kBlock));
  auto log = inner->call_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].ranges.size(), 10u);
  EXPECT_EQ(log[0].ranges.back().first, 9 * kBlock);
}

TEST(BlockCacheTest, AFailureAheadOfTheReadDoesNotFailIt) {
  auto inner = FaultByteSource::WithPattern(64 * kBlock);
  inner->Fail(5 * kBlock, kBlock, base::ErrnoError(ENXIO, "past the device"));
  auto cache = Wrap(inner, Small(64, /*readahead=*/8));
  ASSERT_TRUE(ReadOk(*cache, 0, kBlock));
  auto log = inner->call_log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].ranges.size(), 9u);  // with readahead: failed
  EXPECT_EQ(log[1].ranges.size(), 1u);  // the read's own block alone
  EXPECT_EQ(cache->stats().resident_bytes, kBlock);
}

TEST(BlockCacheTest, ABlockTheSizeDoesNotCoverIsReadThrough) {
  auto inner = FaultByteSource::WithPattern(10 * kBlock + 100);
  auto cache = Wrap(inner, Small(64));
  ASSERT_TRUE(ReadOk(*cache, 10 * kBlock, 100));
  ASSERT_TRUE(ReadOk(*cache, 10 * kBlock, 100));
  EXPECT_EQ(inner->calls(), 2u);
  // Spanning the last whole block and the tail: the block is cached, the tail is not.
  ASSERT_TRUE(ReadOk(*cache, 10 * kBlock - 50, 120));
  ASSERT_TRUE(ReadOk(*cache, 10 * kBlock - 50, 120));
  EXPECT_EQ(inner->ReadsOf(9 * kBlock, kBlock), 1u);
  EXPECT_EQ(inner->ReadsOf(10 * kBlock, kBlock), 4u);
  EXPECT_EQ(cache->stats().read_through_bytes, 200u + 2 * 70u);
  // Reading past the end is still the inner source's OutOfRange.
  std::vector<uint8_t> buf(200);
  EXPECT_EQ(cache->ReadAt(10 * kBlock, absl::MakeSpan(buf)).code(),
            absl::StatusCode::kOutOfRange);
  // Once the source grows over the block, it is cached.
  inner->Append(std::string(kBlock, 'g'));
  uint8_t b = 0;
  KCOREFS_ASSERT_OK(cache->ReadAt(11 * kBlock - 1, absl::MakeSpan(&b, 1)));
  EXPECT_EQ(b, 'g');
  const uint64_t calls = inner->calls();
  KCOREFS_ASSERT_OK(cache->ReadAt(11 * kBlock - 2, absl::MakeSpan(&b, 1)));
  EXPECT_EQ(inner->calls(), calls);
}

TEST(BlockCacheTest, RandomReadsFromManyThreadsGetTheRightBytes) {
  auto inner = FaultByteSource::WithPattern(256 * kBlock + 333);
  auto cache = Wrap(inner, Small(20, /*readahead=*/4));
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::vector<uint8_t> buf;
      for (int i = 0; i < 400; ++i) {
        const uint64_t len = 1 + rng() % (3 * kBlock);
        // Half the reads continue the previous one, to exercise readahead too.
        const uint64_t off = i % 2 ? (rng() % (256 * kBlock + 333 - len)) : (i * 1000 % 200000);
        buf.assign(len, 0);
        absl::Status s = cache->ReadAt(off, absl::MakeSpan(buf));
        if (!s.ok() || !FaultByteSource::HasPattern(buf, off)) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(cache->stats().resident_bytes, 20 * kBlock);
}

TEST(BlockCacheTest, ForwardsWhatItDoesNotCache) {
  auto inner = FaultByteSource::WithPattern(10 * kBlock);
  auto cache = Wrap(inner, Small(4));
  EXPECT_EQ(cache->size(), inner->size());
  EXPECT_EQ(cache->name(), inner->name());
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto extents, cache->Extents(0, 100));
  EXPECT_EQ(extents.size(), 1u);
  std::vector<uint8_t> none;
  KCOREFS_ASSERT_OK(cache->ReadAt(5, absl::MakeSpan(none)));
}

TEST(BlockCacheTest, CreateRefusesBadOptions) {
  auto inner = FaultByteSource::WithPattern(16);
  EXPECT_FALSE(CachingByteSource::Create(inner, {.block_size = 3000}).ok());
  EXPECT_FALSE(CachingByteSource::Create(inner, {.block_size = 256}).ok());
  EXPECT_FALSE(CachingByteSource::Create(inner, {.ttl = absl::Seconds(-1)}).ok());
  EXPECT_TRUE(CachingByteSource::Create(inner).ok());
}

}  // namespace
}  // namespace kcorefs::io
