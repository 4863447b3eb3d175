// Failed source reads through a real FUSE mount: whatever the source's error (each errno
// kind, a fault, a timeout), read() gets EIO, and the log line names the view, the view
// offset and the physical and virtual address.
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <gelf.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <gtest/gtest.h>

#include "fuse/filesystem.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/io/byte_source.h"
#include "kcorefs/io/deadline_source.h"
#include "tests/testing/fault_source.h"
#include "tests/testing/core_builder.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::fuse {
namespace {

using testing::TestKernel;

// Fails every read with the status it was given.
class FailingSource final : public io::ByteSource {
 public:
  FailingSource(absl::Status status, uint64_t size) : status_(std::move(status)), size_(size) {}
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return name_; }

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t>, absl::Time) const override {
    return base::Annotate(status_, absl::StrCat("test source at offset ", base::Hex(offset)));
  }

 private:
  absl::Status status_;
  uint64_t size_;
  std::string name_ = "failing-test-source";
};

// The test kernel's snapshot with every physical segment's bytes from `source`.
class SwappedBackend final : public backends::Backend {
 public:
  SwappedBackend(std::shared_ptr<const backends::Snapshot> snap) : snap_(std::move(snap)) {}
  absl::string_view name() const override { return "test"; }
  const std::string& source() const override { return source_; }
  backends::Capabilities capabilities() const override { return {}; }
  absl::StatusOr<std::shared_ptr<const backends::Snapshot>> Current() override { return snap_; }
  uint64_t bytes_read() const override { return 0; }

 private:
  std::shared_ptr<const backends::Snapshot> snap_;
  std::string source_ = "test";
};

class ReadErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kcorefs-fuse-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    core_ = dir_ + "/core";
    mnt_ = dir_ + "/mnt";
    ASSERT_EQ(mkdir(mnt_.c_str(), 0700), 0);
    TestKernel::Kdump().WriteTo(core_);
  }
  void TearDown() override {
    unlink(core_.c_str());
    rmdir(mnt_.c_str());
    rmdir(dir_.c_str());
  }

  // Mounts the test kernel with `status` as every RAM read's result.
  void Mount(absl::Status status) { MountWith(std::make_shared<FailingSource>(status, 1ull << 40)); }
  // Mounts the test kernel with every physical segment's bytes read from `failing`.
  void MountWith(std::shared_ptr<const io::ByteSource> failing, ReadPathOptions read_path = {}) {
    auto b = backends::OpenBackend(core_, {});
    ASSERT_TRUE(b.ok()) << b.status();
    auto snap = (*b)->Current();
    ASSERT_TRUE(snap.ok());
    auto swapped = std::make_shared<backends::Snapshot>(**snap);
    std::vector<mem::Segment> phys = swapped->map.physical();
    for (mem::Segment& s : phys) s.source = failing;
    auto map = mem::MemoryMap::Create(phys, swapped->map.virtual_only());
    ASSERT_TRUE(map.ok());
    swapped->map = std::move(*map);
    fs_ = std::make_unique<Filesystem>(std::make_unique<SwappedBackend>(swapped),
                                       FileOwnership{0, 0, 0400}, read_path);
    char arg0[] = "kcorefs", arg1[] = "-o", arg2[] = "ro,max_read=1048576";
    char* argv[] = {arg0, arg1, arg2};
    fuse_args args = FUSE_ARGS_INIT(3, argv);
    se_ = fuse_session_new(&args, &Filesystem::Operations(), sizeof(fuse_lowlevel_ops), fs_.get());
    ASSERT_NE(se_, nullptr);
    ASSERT_EQ(fuse_session_mount(se_, mnt_.c_str()), 0);
    loop_ = std::thread([this] { fuse_session_loop(se_); });
  }
  void Unmount() {
    fuse_session_exit(se_);
    fuse_session_unmount(se_);
    loop_.join();
    fuse_session_destroy(se_);
    fs_.reset();
  }
  // Offset in the vmcore view of the RAM PT_LOAD's first byte, from its program header.
  uint64_t RamOffset() {
    int fd = open((mnt_ + "/vmcore").c_str(), O_RDONLY);
    EXPECT_GE(fd, 0);
    elf_version(EV_CURRENT);
    Elf* e = elf_begin(fd, ELF_C_READ, nullptr);
    size_t n = 0;
    elf_getphdrnum(e, &n);
    uint64_t off = 0;
    for (size_t i = 0; i < n; ++i) {
      GElf_Phdr ph;
      gelf_getphdr(e, static_cast<int>(i), &ph);
      if (ph.p_type == PT_LOAD && ph.p_paddr == TestKernel::kRamStart &&
          ph.p_vaddr == TestKernel::kDirectMap + TestKernel::kRamStart) {
        off = ph.p_offset;
      }
    }
    elf_end(e);
    close(fd);
    return off;
  }

  std::string dir_, core_, mnt_;
  std::unique_ptr<Filesystem> fs_;
  fuse_session* se_ = nullptr;
  std::thread loop_;
};

TEST_F(ReadErrorsTest, EverySourceErrorIsEioAndTheLogNamesOffsetAndAddress) {
  struct Case {
    const char* what;
    absl::Status status;
  };
  const Case cases[] = {
      {"EFAULT", base::ErrnoError(EFAULT, "pread")},
      {"ENXIO", base::ErrnoError(ENXIO, "pread")},
      {"EPERM", base::ErrnoError(EPERM, "pread")},
      {"EIO", base::ErrnoError(EIO, "pread")},
      {"ECONNRESET", base::ErrnoError(ECONNRESET, "recv")},
      {"fault", base::FaultError(0x1234000, "physical address")},
      {"deadline", base::DeadlineError("stub did not answer")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Mount(c.status);
    uint64_t off = RamOffset();
    ASSERT_NE(off, 0u);
    int fd = open((mnt_ + "/vmcore").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    // No readahead: its failed reads would log too and could use up the rate limit.
    posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    // The header still reads: only the source's bytes fail.
    char head[64];
    EXPECT_EQ(pread(fd, head, sizeof(head), 0), static_cast<ssize_t>(sizeof(head)));
    ::testing::internal::CaptureStderr();
    char buf[4096];
    errno = 0;
    ssize_t n = pread(fd, buf, sizeof(buf), static_cast<off_t>(off + 0x1000));
    int err = errno;
    std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(n, -1);
    EXPECT_EQ(err, EIO) << strerror(err);
    EXPECT_NE(log.find(absl::StrCat("vmcore offset ", base::Hex(off + 0x1000))), std::string::npos) << log;
    EXPECT_NE(log.find(absl::StrCat("physical ", base::Hex(TestKernel::kRamStart + 0x1000))),
              std::string::npos) << log;
    EXPECT_NE(log.find(absl::StrCat("virtual ", base::Hex(TestKernel::kDirectMap + TestKernel::kRamStart + 0x1000))),
              std::string::npos) << log;
    EXPECT_NE(log.find("test source at offset"), std::string::npos) << log;
    close(fd);
    Unmount();
  }
}

// A source that stops answering: behind the deadline decorator, read() gets EIO once the
// timeout passes, not never, and the mount keeps serving.
TEST_F(ReadErrorsTest, AStalledSourceGivesEioOnTime) {
  auto stalled = testing::FaultByteSource::WithPattern(16 << 20, "stalled://stub");
  auto rule = stalled->Block(0, 16 << 20);
  io::DeadlineOptions opts;
  // The decorator's own default would wait a minute: the mount's read deadline
  // (-o timeout) is what ends the wait.
  opts.default_timeout = absl::Seconds(60);
  auto guarded = io::DeadlineByteSource::Create(stalled, opts);
  ASSERT_TRUE(guarded.ok()) << guarded.status();
  ReadPathOptions read_path;
  read_path.read_timeout = absl::Milliseconds(800);
  read_path.splice = false;
  MountWith(*guarded, read_path);
  uint64_t off = RamOffset();
  int fd = open((mnt_ + "/vmcore").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  ::testing::internal::CaptureStderr();
  char buf[4096];
  absl::Time start = absl::Now();
  ssize_t n = pread(fd, buf, sizeof(buf), static_cast<off_t>(off));
  int err = errno;
  absl::Duration took = absl::Now() - start;
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(n, -1);
  EXPECT_EQ(err, EIO);
  EXPECT_GE(took, absl::Milliseconds(700));
  EXPECT_LT(took, absl::Seconds(5)) << "the read waited " << took;
  EXPECT_NE(log.find("transient"), std::string::npos) << log;
  EXPECT_NE(log.find("stalled://stub"), std::string::npos) << log;
  // The header is still served while the source is stuck.
  char head[64];
  EXPECT_EQ(pread(fd, head, sizeof(head), 0), static_cast<ssize_t>(sizeof(head)));
  close(fd);
  stalled->Release(rule);
  Unmount();
}

}  // namespace
}  // namespace kcorefs::fuse
