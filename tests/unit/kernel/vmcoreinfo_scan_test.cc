#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/kernel/vmcoreinfo.h"
#include "tests/testing/core_builder.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::kernel {
namespace {

constexpr uint64_t kPage = 4096;

// Bytes in memory that log every read and fail the ranges a test chooses.
class ScanSource final : public io::ByteSource {
 public:
  explicit ScanSource(std::string bytes, uint64_t preferred = 1 << 20)
      : bytes_(std::move(bytes)), preferred_(preferred) {}
  // Reads touching [offset, offset + length) fail with `status`.
  void Fail(uint64_t offset, uint64_t length, absl::Status status) {
    fails_.push_back({offset, length, std::move(status)});
  }
  uint64_t size() const override { return bytes_.size(); }
  const std::string& name() const override { return name_; }
  uint64_t preferred_read_size() const override { return preferred_; }

  // One entry per ReadMany: its requests' (offset, length).
  mutable std::vector<std::vector<std::pair<uint64_t, uint64_t>>> batches;
  mutable int single_reads = 0;
  mutable uint64_t max_end = 0;  // the furthest byte any read asked for
  mutable absl::Time last_deadline;

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const override {
    ++single_reads;
    return Read(offset, out, deadline);
  }
  absl::Status DoReadMany(absl::Span<const io::ReadRequest> requests,
                          absl::Time deadline) const override {
    batches.emplace_back();
    for (const io::ReadRequest& r : requests) batches.back().push_back({r.offset, r.out.size()});
    for (const io::ReadRequest& r : requests) {
      absl::Status s = Read(r.offset, r.out, deadline);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  struct FailRange {
    uint64_t offset, length;
    absl::Status status;
  };
  absl::Status Read(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const {
    last_deadline = deadline;
    max_end = std::max<uint64_t>(max_end, offset + out.size());
    for (const FailRange& f : fails_) {
      if (offset < f.offset + f.length && f.offset < offset + out.size()) return f.status;
    }
    if (offset + out.size() > bytes_.size()) return absl::OutOfRangeError("past the end");
    std::memcpy(out.data(), bytes_.data() + offset, out.size());
    return absl::OkStatus();
  }
  std::string name_ = "ram-test";
  std::string bytes_;
  uint64_t preferred_;
  std::vector<FailRange> fails_;
};

// A text that starts like the kernel's and is `size` bytes long.
std::string LongText(size_t size) {
  std::string t = "OSRELEASE=6.1.0-scan\nPAGESIZE=4096\n";
  for (int i = 0; t.size() + 64 < size; ++i) absl::StrAppend(&t, "SYMBOL(pad_", i, ")=ffffffff81000000\n");
  t += "PAD=";
  t.resize(size - 1, 'x');
  return t + "\n";
}

std::string WithNoteAt(std::string ram, uint64_t offset, const std::string& text) {
  std::string note = testing::Note("VMCOREINFO", 0, text);
  ram.replace(offset, note.size(), note);
  return ram;
}

mem::MemoryMap OneSegment(uint64_t start, std::shared_ptr<const io::ByteSource> src, uint64_t size,
                          uint64_t data_size) {
  auto m = mem::MemoryMap::Create({mem::Segment{start, size, data_size, std::move(src), 0}}, {});
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : mem::MemoryMap();
}

TEST(ScanTest, FindsThePageAlignedNoteAndSkipsLookalikes) {
  std::string ram(64 * 1024, '\0');
  std::string note = testing::Note("VMCOREINFO", 0, "OSRELEASE=6.1.0-scan\nPAGESIZE=4096\n");
  // An unaligned copy (ignored), then the real one on a page boundary.
  ram.replace(0x1010, note.size(), note);
  ram.replace(0x3000, note.size(), note);
  auto src = std::make_shared<ScanSource>(ram);
  mem::MemoryMap map = OneSegment(0x100000, src, ram.size(), ram.size());
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto hit, ScanForVmcoreinfo(map));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->paddr, 0x103000u);
  EXPECT_EQ(hit->text.substr(0, 20), "OSRELEASE=6.1.0-scan");
}

// A source that reports everything but [data_at, data_at + data_len) as zeros (a sparse
// file's holes): the scan reads only the data, and still finds a note there.
class SparseSource final : public io::ByteSource {
 public:
  SparseSource(uint64_t size, uint64_t data_at, std::string data)
      : size_(size), data_at_(data_at), data_(std::move(data)) {}
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return name_; }
  absl::StatusOr<std::vector<io::SourceExtent>> Extents(uint64_t offset, uint64_t length) const override {
    std::vector<io::SourceExtent> out;
    uint64_t end = offset + length, d0 = data_at_, d1 = data_at_ + data_.size();
    if (offset < d0) out.push_back({offset, std::min(end, d0) - offset, io::ExtentKind::kZero});
    if (offset < d1 && d0 < end) {
      uint64_t lo = std::max(offset, d0), hi = std::min(end, d1);
      out.push_back({lo, hi - lo, io::ExtentKind::kData});
    }
    if (end > d1) out.push_back({std::max(offset, d1), end - std::max(offset, d1), io::ExtentKind::kHole});
    return out;
  }
  mutable uint64_t bytes_asked = 0;

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time) const override {
    bytes_asked += out.size();
    std::memset(out.data(), 0, out.size());
    for (uint64_t i = 0; i < out.size(); ++i) {
      uint64_t at = offset + i;
      if (at >= data_at_ && at - data_at_ < data_.size()) out[i] = static_cast<uint8_t>(data_[at - data_at_]);
    }
    return absl::OkStatus();
  }

 private:
  std::string name_ = "sparse";
  uint64_t size_, data_at_;
  std::string data_;
};

TEST(ScanTest, SkipsTheHolesASourceReports) {
  constexpr uint64_t kTib = 1ull << 40;
  // The data starts 512 bytes before the page at 600 GiB, which holds the note: the
  // data's partial first page is rounded out, not lost.
  std::string data = WithNoteAt(std::string(3 * kPage, 'x'), 512, "OSRELEASE=6.1.0-sparse\nPAGESIZE=4096\n");
  const uint64_t data_at = (600ull << 30) - 512;
  auto src = std::make_shared<SparseSource>(kTib, data_at, data);
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto hit, ScanForVmcoreinfo(OneSegment(0, src, kTib, kTib)));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->paddr, 600ull << 30);
  EXPECT_LE(src->bytes_asked, 8 * kPage);
  // Without the note: nothing found, and no more read.
  auto empty = std::make_shared<SparseSource>(kTib, 4096, std::string(kPage, 'y'));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto none, ScanForVmcoreinfo(OneSegment(0, empty, kTib, kTib)));
  EXPECT_FALSE(none.has_value());
  EXPECT_LE(empty->bytes_asked, 2 * kPage);
}

TEST(ScanTest, NoNoteIsNotFoundNotAnError) {
  auto src = std::make_shared<ScanSource>(std::string(16384, 'x'));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto hit, ScanForVmcoreinfo(OneSegment(0, src, 16384, 16384)));
  EXPECT_FALSE(hit.has_value());
}

// 4 MiB is four 1 MiB reads, not 1024 reads of one page head.
TEST(ScanTest, ReadsInLargeBatches) {
  constexpr uint64_t kSize = 4 << 20;
  auto src = std::make_shared<ScanSource>(std::string(kSize, '\0'));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto hit, ScanForVmcoreinfo(OneSegment(0x1000000, src, kSize, kSize)));
  EXPECT_FALSE(hit.has_value());
  ASSERT_EQ(src->batches.size(), 4u);
  EXPECT_EQ(src->single_reads, 0);
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(src->batches[i].size(), 1u);
    EXPECT_EQ(src->batches[i][0], std::make_pair(uint64_t{i << 20}, uint64_t{1} << 20));
  }
}

// A source that prefers small reads (a GDB stub) gets them as one pipelined batch.
TEST(ScanTest, SplitsABatchIntoTheSourcesPreferredReads) {
  constexpr uint64_t kSize = 2 << 20;
  auto src = std::make_shared<ScanSource>(std::string(kSize, '\0'), /*preferred=*/64 << 10);
  KCOREFS_ASSERT_OK(ScanForVmcoreinfo(OneSegment(0, src, kSize, kSize)).status());
  ASSERT_EQ(src->batches.size(), 2u);
  ASSERT_EQ(src->batches[0].size(), 16u);
  EXPECT_EQ(src->batches[0][1], std::make_pair(uint64_t{64 << 10}, uint64_t{64 << 10}));
}

TEST(ScanTest, FindsANoteWhoseTextCrossesABatchBoundary) {
  std::string text = LongText(6000);  // from page 1 well into page 3
  ASSERT_EQ(text.size(), 6000u);
  std::string ram = WithNoteAt(std::string(8 * kPage, '\0'), kPage, text);
  auto src = std::make_shared<ScanSource>(ram);
  VmcoreinfoScanOptions o;
  o.batch_size = 2 * kPage;  // batches [0, 2), [2, 4), ... pages
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto hit, ScanForVmcoreinfo(OneSegment(0x200000, src, ram.size(), ram.size()), o));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->paddr, 0x200000u + kPage);
  EXPECT_EQ(hit->text, text);
  EXPECT_EQ(src->batches.size(), 1u);  // found in the first batch; the text read after it
}

TEST(ScanTest, FindsANoteWhoseTextRunsIntoTheNextSegment) {
  std::string text = LongText(3000);
  std::string ram = WithNoteAt(std::string(4 * kPage, '\0'), 3 * kPage, text);
  auto a = std::make_shared<ScanSource>(ram.substr(0, 3 * kPage + 1024));
  auto b = std::make_shared<ScanSource>(ram.substr(3 * kPage + 1024));
  auto map = mem::MemoryMap::Create({mem::Segment{0, 3 * kPage + 1024, 3 * kPage + 1024, a, 0},
                                     mem::Segment{3 * kPage + 1024, kPage - 1024, kPage - 1024, b, 0}},
                                    {});
  ASSERT_TRUE(map.ok());
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto hit, ScanForVmcoreinfo(*map));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->paddr, 3 * kPage);
  EXPECT_EQ(hit->text, text);
}

TEST(ScanTest, FindsANoteInTheLastPartialBatch) {
  constexpr uint64_t kSize = 5 * kPage + 100;  // batches of 2 pages: the last is 1 page + 100
  std::string ram = WithNoteAt(std::string(kSize, '\0'), 5 * kPage, "OSRELEASE=6.1.0-end\n");
  auto src = std::make_shared<ScanSource>(ram);
  VmcoreinfoScanOptions o;
  o.batch_size = 2 * kPage;
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto hit, ScanForVmcoreinfo(OneSegment(0x300000, src, kSize, kSize), o));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->paddr, 0x300000u + 5 * kPage);
  EXPECT_EQ(hit->text, "OSRELEASE=6.1.0-end\n");
  ASSERT_EQ(src->batches.size(), 3u);
  EXPECT_EQ(src->batches[2][0], std::make_pair(uint64_t{4 * kPage}, kPage + 100));
}

// Only bytes a segment holds are read: not its zero tail, not past its source's end.
TEST(ScanTest, ReadsOnlyTheBytesSegmentsHold) {
  std::string ram = WithNoteAt(std::string(8 * kPage, '\0'), 6 * kPage, "OSRELEASE=6.1.0-tail\n");
  auto src = std::make_shared<ScanSource>(ram);
  // The note's page is past the segment's data: it reads as zeros, so there is no note.
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto tail, ScanForVmcoreinfo(OneSegment(0, src, 1 << 30, 4 * kPage)));
  EXPECT_FALSE(tail.has_value());
  EXPECT_LE(src->max_end, 4 * kPage);
  // A segment claiming more data than its source has: the scan stops at the source's end.
  auto short_src = std::make_shared<ScanSource>(std::string(2 * kPage, '\0'));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto past, ScanForVmcoreinfo(OneSegment(0, short_src, 1ull << 40, 1ull << 40)));
  EXPECT_FALSE(past.has_value());
  EXPECT_EQ(short_src->max_end, 2 * kPage);
}

TEST(ScanTest, AnIoErrorEndsTheScanNamingThePhysicalAddressAndKeepsItsKind) {
  constexpr uint64_t kSize = 4 << 20;
  // The note lies after the failure: a scan that skipped unreadable memory would find it
  // and hide that the source is failing.
  std::string ram = WithNoteAt(std::string(kSize, '\0'), 3 << 20, "OSRELEASE=6.1.0-late\n");
  auto src = std::make_shared<ScanSource>(ram);
  src->Fail((2 << 20) + 0x5000, 8, base::ErrnoError(EIO, "read ram-test at offset 0x205000"));
  auto hit = ScanForVmcoreinfo(OneSegment(0x1000000, src, kSize, kSize));
  ASSERT_FALSE(hit.ok());
  EXPECT_EQ(base::KindOf(hit.status()), base::ErrorKind::kPermanent);
  EXPECT_EQ(hit.status().code(), base::ErrnoError(EIO, "x").code());
  // The batch that failed starts at physical 0x1200000.
  EXPECT_NE(hit.status().message().find("could not read physical 0x1200000 from ram-test: "),
            absl::string_view::npos)
      << hit.status();
  EXPECT_NE(hit.status().message().find("Input/output error"), absl::string_view::npos);
}

TEST(ScanTest, ATransientErrorStaysTransient) {
  auto src = std::make_shared<ScanSource>(std::string(1 << 20, '\0'));
  src->Fail(0, 1, base::TransientError("connection reset"));
  auto hit = ScanForVmcoreinfo(OneSegment(0, src, 1 << 20, 1 << 20));
  ASSERT_FALSE(hit.ok());
  EXPECT_EQ(hit.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(base::KindOf(hit.status()), base::ErrorKind::kTransient);
}

// Pages a filtered source does not hold fault; the rest of their batch is still scanned.
TEST(ScanTest, AFaultInsideABatchSkipsOnlyTheAbsentPages) {
  std::string ram = WithNoteAt(std::string(1 << 20, '\0'), 0x9000, "OSRELEASE=6.1.0-fault\n");
  auto src = std::make_shared<ScanSource>(ram);
  src->Fail(0x4000, kPage, base::FaultError(0x4000, "physical address"));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto hit, ScanForVmcoreinfo(OneSegment(0, src, 1 << 20, 1 << 20)));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->paddr, 0x9000u);
}

TEST(ScanTest, EachBatchCarriesADeadline) {
  auto src = std::make_shared<ScanSource>(std::string(1 << 20, '\0'));
  VmcoreinfoScanOptions o;
  o.batch_timeout = absl::Seconds(30);
  absl::Time before = absl::Now();
  KCOREFS_ASSERT_OK(ScanForVmcoreinfo(OneSegment(0, src, 1 << 20, 1 << 20), o).status());
  EXPECT_GE(src->last_deadline, before + absl::Seconds(30));
  EXPECT_LT(src->last_deadline, absl::Now() + absl::Seconds(31));
}

}  // namespace
}  // namespace kcorefs::kernel
