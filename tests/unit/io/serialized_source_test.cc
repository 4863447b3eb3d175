#include "kcorefs/io/serialized_source.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "kcorefs/base/errors.h"
#include "tests/testing/fault_source.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::io {
namespace {

using testing::FaultByteSource;

// Records how many calls were inside it at once.
class OverlapSource final : public ByteSource {
 public:
  uint64_t size() const override { return 1 << 20; }
  const std::string& name() const override { return name_; }
  int max_inside() const { return max_inside_.load(); }

 protected:
  absl::Status DoRead(uint64_t, absl::Span<uint8_t> out, absl::Time) const override {
    Enter();
    std::fill(out.begin(), out.end(), 1);
    return absl::OkStatus();
  }
  absl::Status DoReadMany(absl::Span<const ReadRequest> requests, absl::Time) const override {
    Enter();
    return absl::OkStatus();
  }

 private:
  void Enter() const {
    const int now = ++inside_;
    int seen = max_inside_.load();
    while (now > seen && !max_inside_.compare_exchange_weak(seen, now)) {
    }
    absl::SleepFor(absl::Milliseconds(2));
    --inside_;
  }
  std::string name_ = "gdb://stub";
  mutable std::atomic<int> inside_{0};
  mutable std::atomic<int> max_inside_{0};
};

TEST(SerializedByteSourceTest, OneInnerCallAtATime) {
  auto inner = std::make_shared<OverlapSource>();
  SerializedByteSource src(inner);
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buf(64);
      for (int i = 0; i < 10; ++i) {
        if (i % 2) {
          const ReadRequest reqs[] = {{0, absl::MakeSpan(buf)}};
          EXPECT_TRUE(src.ReadMany(reqs).ok());
        } else {
          EXPECT_TRUE(src.ReadAt(t * 64, absl::MakeSpan(buf)).ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(inner->max_inside(), 1);
  EXPECT_EQ(src.bytes_read(), 6u * 10 * 64);
}

TEST(SerializedByteSourceTest, AWaitingCallerGivesUpAtItsDeadline) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  auto gate = inner->Block(0, 4096);
  SerializedByteSource src(inner);
  std::thread holder([&] {
    std::vector<uint8_t> buf(10);
    EXPECT_TRUE(src.ReadAt(0, absl::MakeSpan(buf)).ok());
  });
  ASSERT_TRUE(inner->WaitForBlocked(1));
  std::vector<uint8_t> buf(10);
  const absl::Time start = absl::Now();
  absl::Status s = src.ReadAt(8192, absl::MakeSpan(buf), start + absl::Milliseconds(100));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kTransient);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(inner->ReadsOf(8192, 10), 0u);  // it never reached the transport
  inner->Release(gate);
  holder.join();
  KCOREFS_ASSERT_OK(src.ReadAt(8192, absl::MakeSpan(buf)));
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 8192));
}

TEST(SerializedByteSourceTest, HidesTheFdAndForwardsTheRest) {
  auto inner = FaultByteSource::WithPattern(1 << 16);
  SerializedByteSource src(inner);
  EXPECT_FALSE(src.fd().has_value());
  EXPECT_EQ(src.size(), 1u << 16);
  EXPECT_EQ(src.name(), "fault://test");
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto extents, src.Extents(0, 10));
  EXPECT_EQ(extents.size(), 1u);
}

}  // namespace
}  // namespace kcorefs::io
