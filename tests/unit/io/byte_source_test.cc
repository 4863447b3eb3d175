#include "kcorefs/io/byte_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "tests/testing/fault_source.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::io {
namespace {

using testing::FaultByteSource;

constexpr uint64_t kChunk = 256 << 10;  // well above any file system's block size

// A temp file with the given bytes written at the given offsets and the given size; the
// rest is holes.
class SparseFile {
 public:
  SparseFile() {
    path_ = absl::StrCat(::testing::TempDir(), "/kcorefs_sparse_XXXXXX");
    fd_ = ::mkstemp(path_.data());
  }
  ~SparseFile() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool Write(uint64_t offset, uint64_t length, char c) {
    std::string data(length, c);
    return ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset)) ==
           static_cast<ssize_t>(length);
  }
  bool Truncate(uint64_t size) { return ::ftruncate(fd_, static_cast<off_t>(size)) == 0; }
  const std::string& path() const { return path_; }
  bool ok() const { return fd_ >= 0; }

 private:
  std::string path_;
  int fd_ = -1;
};

// Extents cover the range exactly, in order, without gaps.
void ExpectCovers(const std::vector<SourceExtent>& extents, uint64_t offset, uint64_t length) {
  uint64_t pos = offset;
  for (const SourceExtent& e : extents) {
    EXPECT_EQ(e.offset, pos);
    EXPECT_GT(e.length, 0u);
    pos = e.end();
  }
  EXPECT_EQ(pos, offset + length);
}

TEST(FileByteSourceTest, ExtentsReportHolesAsZeroAndDataAsData) {
  SparseFile f;
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.Write(0, kChunk, 'a'));
  ASSERT_TRUE(f.Write(4 * kChunk, kChunk, 'b'));
  ASSERT_TRUE(f.Truncate(8 * kChunk));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto src, FileByteSource::Open(f.path()));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto extents, src->Extents(0, 8 * kChunk));
  if (extents.size() == 1 && extents[0].kind == ExtentKind::kData) {
    GTEST_SKIP() << "the file system under " << f.path() << " reports no holes";
  }
  ExpectCovers(extents, 0, 8 * kChunk);
  ASSERT_EQ(extents.size(), 4u);
  EXPECT_EQ(extents[0].kind, ExtentKind::kData);
  EXPECT_EQ(extents[0].length, kChunk);
  EXPECT_EQ(extents[1].kind, ExtentKind::kZero);
  EXPECT_EQ(extents[1].length, 3 * kChunk);
  EXPECT_EQ(extents[2].kind, ExtentKind::kData);
  EXPECT_EQ(extents[2].offset, 4 * kChunk);
  EXPECT_EQ(extents[3].kind, ExtentKind::kZero);
  EXPECT_EQ(extents[3].end(), 8 * kChunk);
}

TEST(FileByteSourceTest, ExtentsOfASubrangeStartingInAHole) {
  SparseFile f;
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.Write(4 * kChunk, kChunk, 'b'));
  ASSERT_TRUE(f.Truncate(6 * kChunk));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto src, FileByteSource::Open(f.path()));
  const uint64_t off = kChunk + 100, len = 3 * kChunk + 500;  // ends inside the data
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto extents, src->Extents(off, len));
  if (extents.size() == 1 && extents[0].kind == ExtentKind::kData) {
    GTEST_SKIP() << "the file system under " << f.path() << " reports no holes";
  }
  ExpectCovers(extents, off, len);
  ASSERT_EQ(extents.size(), 2u);
  EXPECT_EQ(extents[0].kind, ExtentKind::kZero);
  EXPECT_EQ(extents[0].end(), 4 * kChunk);
  EXPECT_EQ(extents[1].kind, ExtentKind::kData);
  EXPECT_EQ(extents[1].end(), off + len);
}

TEST(FileByteSourceTest, HolesReadAsZerosAndPastEndIsOutOfRange) {
  SparseFile f;
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.Write(kChunk, 16, 'x'));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto src, FileByteSource::Open(f.path()));
  EXPECT_EQ(src->size(), kChunk + 16);
  EXPECT_TRUE(src->fd().has_value());
  std::vector<uint8_t> buf(32, 0xff);
  KCOREFS_ASSERT_OK(src->ReadAt(kChunk - 16, absl::MakeSpan(buf)));
  EXPECT_EQ(buf[0], 0);
  EXPECT_EQ(buf[16], 'x');
  absl::Status past = src->ReadAt(kChunk, absl::MakeSpan(buf));
  EXPECT_EQ(past.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(base::KindOf(past), base::ErrorKind::kPermanent);
}

// kOneReaderPerOpen: reads borrow descriptors opened again through /proc/self/fd (the
// same file, even once its path names another), many threads at once read right, and the
// source offers no fd to splice from.
TEST(FileByteSourceTest, OneReaderPerOpenReadsTheOpenedFileFromManyThreads) {
  SparseFile f;
  ASSERT_TRUE(f.ok());
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(f.Write(i * 4096, 4096, static_cast<char>('A' + i % 26)));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto src,
                               FileByteSource::Open(f.path(), FileSharing::kOneReaderPerOpen));
  EXPECT_FALSE(src->fd().has_value());
  // The path now names another file; reads must still see the first.
  SparseFile other;
  ASSERT_TRUE(other.ok() && other.Write(0, 64 * 4096, 'z'));
  ASSERT_EQ(::rename(other.path().c_str(), f.path().c_str()), 0);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buf(4096);
      for (int n = 0; n < 200; ++n) {
        int page = (t * 7 + n * 13) % 64;
        if (!src->ReadAt(page * 4096, absl::MakeSpan(buf)).ok() || buf[0] != 'A' + page % 26 ||
            buf[4095] != 'A' + page % 26) {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(src->bytes_read(), 8u * 200 * 4096);
}

TEST(FileByteSourceTest, DeadlineAlreadyPastFailsBeforeReading) {
  SparseFile f;
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.Write(0, 16, 'x'));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto src, FileByteSource::Open(f.path()));
  std::vector<uint8_t> buf(16);
  absl::Status s = src->ReadAt(0, absl::MakeSpan(buf), absl::Now() - absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kTransient);
}

TEST(ByteSourceTest, ReadManyDefaultReadsEachRequestInOrder) {
  auto src = FaultByteSource::WithPattern(1 << 16);
  std::vector<uint8_t> a(10), b(300), c(1);
  const ReadRequest reqs[] = {{5000, absl::MakeSpan(a)}, {7, absl::MakeSpan(b)},
                              {65535, absl::MakeSpan(c)}};
  // BufferByteSource has no DoReadMany of its own: this is the default.
  BufferByteSource buffer("buf", std::string(1 << 16, 'z'));
  KCOREFS_ASSERT_OK(src->ReadMany(reqs));
  EXPECT_TRUE(FaultByteSource::HasPattern(a, 5000));
  EXPECT_TRUE(FaultByteSource::HasPattern(b, 7));
  EXPECT_TRUE(FaultByteSource::HasPattern(c, 65535));
  KCOREFS_ASSERT_OK(buffer.ReadMany(reqs));
  EXPECT_EQ(b[299], 'z');
  EXPECT_EQ(buffer.bytes_read(), 311u);
}

// A source with only DoRead, to exercise ByteSource::DoReadMany itself.
class CountingSource final : public ByteSource {
 public:
  uint64_t size() const override { return 1000; }
  const std::string& name() const override { return name_; }
  mutable std::vector<uint64_t> offsets;

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time) const override {
    offsets.push_back(offset);
    if (offset == 666) return base::ErrnoError(EIO, "read at 666");
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(offset + i);
    return absl::OkStatus();
  }

 private:
  std::string name_ = "counting";
};

TEST(ByteSourceTest, ReadManyDefaultStopsAtTheFirstFailure) {
  CountingSource src;
  std::vector<uint8_t> a(4), b(4), c(4);
  const ReadRequest ok[] = {{10, absl::MakeSpan(a)}, {20, absl::MakeSpan(b)}};
  KCOREFS_ASSERT_OK(src.ReadMany(ok));
  EXPECT_EQ(src.offsets, (std::vector<uint64_t>{10, 20}));
  EXPECT_EQ(a[3], 13);
  EXPECT_EQ(b[0], 20);
  src.offsets.clear();
  const ReadRequest bad[] = {{30, absl::MakeSpan(a)}, {666, absl::MakeSpan(b)},
                             {40, absl::MakeSpan(c)}};
  absl::Status s = src.ReadMany(bad);
  EXPECT_EQ(s, base::ErrnoError(EIO, "read at 666"));
  EXPECT_EQ(src.offsets, (std::vector<uint64_t>{30, 666}));
  KCOREFS_ASSERT_OK(src.ReadMany({}));
}

TEST(BufferByteSourceTest, PastEndIsPermanentOutOfRange) {
  BufferByteSource src("buf", "0123456789");
  std::vector<uint8_t> buf(4);
  KCOREFS_ASSERT_OK(src.ReadAt(6, absl::MakeSpan(buf)));
  EXPECT_EQ(buf[0], '6');
  absl::Status s = src.ReadAt(7, absl::MakeSpan(buf));
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(base::KindOf(s), base::ErrorKind::kPermanent);
  EXPECT_EQ(src.ReadAt(~0ull - 1, absl::MakeSpan(buf)).code(), absl::StatusCode::kOutOfRange);
}

// The test source itself: rules apply where they say and nowhere else.
TEST(FaultByteSourceTest, RulesApplyToOverlappingReadsOnly) {
  auto src = FaultByteSource::WithPattern(8192);
  src->Fail(4096, 100, base::ErrnoError(ENXIO, "no such page"), /*times=*/1);
  std::vector<uint8_t> buf(100);
  KCOREFS_ASSERT_OK(src->ReadAt(3996, absl::MakeSpan(buf)));  // ends where the rule starts
  EXPECT_EQ(src->ReadAt(4000, absl::MakeSpan(buf)).code(), absl::StatusCode::kNotFound);
  KCOREFS_ASSERT_OK(src->ReadAt(4000, absl::MakeSpan(buf)));  // used up
  EXPECT_TRUE(FaultByteSource::HasPattern(buf, 4000));
  EXPECT_EQ(src->ReadsOf(4096, 100), 2u);
  EXPECT_EQ(src->calls(), 3u);

  src->Short(5000, 10);
  std::fill(buf.begin(), buf.end(), 0);
  absl::Status s = src->ReadAt(4950, absl::MakeSpan(buf));
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(FaultByteSource::HasPattern(absl::MakeSpan(buf).first(50), 4950));
  EXPECT_EQ(buf[50], 0);
}

}  // namespace
}  // namespace kcorefs::io
