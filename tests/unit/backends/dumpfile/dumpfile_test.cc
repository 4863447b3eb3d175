#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include "kcorefs/backends/backend.h"
#include "tests/testing/core_builder.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::backends {
namespace {

using testing::CoreBuilder;
using testing::TestKernel;
using testing::TestKernelArm64;

class DumpfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kcorefs-dumpfile-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/core";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  absl::StatusOr<std::unique_ptr<Backend>> Open(const CoreBuilder& b) {
    b.WriteTo(path_);
    return OpenBackend(path_, {});
  }
  void Truncate(uint64_t size) { ASSERT_EQ(truncate(path_.c_str(), static_cast<off_t>(size)), 0); }
  std::string dir_, path_;
};

void ExpectMessageHas(const absl::Status& s, absl::string_view what) {
  EXPECT_NE(s.message().find(what), absl::string_view::npos) << s;
}

TEST_F(DumpfileTest, KdumpCoreYieldsFactsFromItsHeaders) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto b, Open(TestKernel::Kdump()));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto snap, b->Current());
  EXPECT_EQ(snap->facts.direct_map_base, TestKernel::kDirectMap);
  EXPECT_EQ(snap->facts.image.vaddr, TestKernel::kText);
  EXPECT_EQ(snap->facts.osrelease, "6.1.0-test-amd64");
  ASSERT_EQ(snap->map.physical().size(), 1u);  // the image duplicates RAM and is not added
  uint8_t buf[16];
  KCOREFS_ASSERT_OK(snap->map.ReadPhys(TestKernel::kRamStart + 0x1000, absl::MakeSpan(buf)));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 16),
            TestKernel::Pattern(TestKernel::kRamStart + 0x1000, 16));
  EXPECT_TRUE(snap->warnings.empty());
}

TEST_F(DumpfileTest, MissingFileIsNamed) {
  auto b = OpenBackend(dir_ + "/nope", {});
  ASSERT_FALSE(b.ok());
  ExpectMessageHas(b.status(), dir_ + "/nope");
}

TEST_F(DumpfileTest, NotAnElfFileIsNamed) {
  std::ofstream(path_) << "hello, not a core";
  auto b = OpenBackend(path_, {});
  ASSERT_FALSE(b.ok());
  ExpectMessageHas(b.status(), path_);
  ExpectMessageHas(b.status(), "not an ELF");
}

TEST_F(DumpfileTest, ExecutableIsNotACore) {
  CoreBuilder c = TestKernel::Kdump();
  c.e_type = ET_EXEC;
  auto b = Open(c);
  ASSERT_FALSE(b.ok());
  ExpectMessageHas(b.status(), "not ET_CORE");
}

TEST_F(DumpfileTest, Aarch64CoreOpens) {
  auto b = Open(TestKernelArm64::Kdump());
  KCOREFS_ASSERT_OK(b.status());
}

TEST_F(DumpfileTest, UnknownMachineIsReportedAsNotSupported) {
  CoreBuilder c = TestKernel::Kdump();
  c.e_machine = EM_S390;
  auto b = Open(c);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnimplemented);
  ExpectMessageHas(b.status(), path_);
  ExpectMessageHas(b.status(), "ELF machine 22");
}

TEST_F(DumpfileTest, TruncatedDumpServesWhatExistsWithAWarning) {
  TestKernel::Kdump().WriteTo(path_);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  Truncate(static_cast<uint64_t>(st.st_size) - (1 << 20));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto b, OpenBackend(path_, {}));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto snap, b->Current());
  ASSERT_GE(snap->warnings.size(), 2u);
  // First the cut with both sizes, then the segment it cut.
  ExpectMessageHas(absl::InternalError(snap->warnings[0]),
                   absl::StrCat(path_, " is truncated: headers describe ", st.st_size, " bytes, the file has ",
                                st.st_size - (1 << 20)));
  ExpectMessageHas(absl::InternalError(snap->warnings[1]), "PT_LOAD[2]");
  // The missing megabyte is absent, not zeros.
  EXPECT_EQ(snap->map.physical()[0].size, TestKernel::kRamSize - (1 << 20));
}

TEST_F(DumpfileTest, OffsetPastEndOfFileDropsTheSegmentWithAWarning) {
  CoreBuilder c = TestKernel::Kdump();
  c.loads[1].offset_override = 1ull << 40;
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto b, Open(c));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto snap, b->Current());
  ASSERT_GE(snap->warnings.size(), 2u);
  ExpectMessageHas(absl::InternalError(snap->warnings[0]), "is truncated");
  ExpectMessageHas(absl::InternalError(snap->warnings[1]), "0x10000000000");
  // Only the kernel image's own segment is left.
  ASSERT_EQ(snap->map.physical().size(), 1u);
  EXPECT_EQ(snap->map.physical()[0].size, 2u << 20);
}

TEST_F(DumpfileTest, NoPhysicalMemoryAtAllIsAnError) {
  CoreBuilder c = TestKernel::Kdump();
  c.loads[0].offset_override = 1ull << 40;
  c.loads[1].offset_override = 1ull << 40;
  auto b = Open(c);
  ASSERT_FALSE(b.ok());
  ExpectMessageHas(b.status(), "no PT_LOAD holds physical memory");
}

TEST_F(DumpfileTest, OverlappingSegmentsAreRejected) {
  CoreBuilder c = TestKernel::Kdump();
  c.loads.push_back({TestKernel::kDirectMap + TestKernel::kRamStart + 4096, TestKernel::kRamStart + 4096,
                     4096, std::string(4096, 'x')});
  auto b = Open(c);
  ASSERT_FALSE(b.ok());
  ExpectMessageHas(b.status(), "overlap");
  ExpectMessageHas(b.status(), path_);
}

TEST_F(DumpfileTest, AbsurdProgramHeaderCountIsRejected) {
  for (uint16_t phnum : {uint16_t{0xfffe}, uint16_t{PN_XNUM}}) {
    CoreBuilder c = TestKernel::Kdump();
    c.phnum_override = phnum;
    c.WriteTo(path_);
    Truncate(64 * 1024);
    auto b = OpenBackend(path_, {});
    ASSERT_FALSE(b.ok());
    ExpectMessageHas(b.status(), path_);
  }
}

TEST_F(DumpfileTest, AbsurdSegmentSizeIsRejected) {
  CoreBuilder c = TestKernel::Kdump();
  c.loads[1].filesz_override = (1ull << 63) - 4096;
  c.loads[1].memsz = (1ull << 63) - 4096;
  auto b = Open(c);
  ASSERT_FALSE(b.ok());
  ExpectMessageHas(b.status(), "absurd");
}

TEST_F(DumpfileTest, VmcoreinfoMissingKeysIsRejected) {
  CoreBuilder c = TestKernel::Kdump();
  c.notes = testing::Note("VMCOREINFO", 0, "OSRELEASE=6.1\nPAGESIZE=4096\n");
  auto b = Open(c);
  ASSERT_FALSE(b.ok());
  ExpectMessageHas(b.status(), "KERNELOFFSET");
  ExpectMessageHas(b.status(), "--vmcoreinfo");
}

TEST_F(DumpfileTest, GarbageNotesAreRejectedWithTheirOffset) {
  CoreBuilder c = TestKernel::Kdump();
  c.notes[4] = 0x7f;  // descsz runs past the note segment
  auto b = Open(c);
  ASSERT_FALSE(b.ok());
  ExpectMessageHas(b.status(), "PT_NOTE at file offset");
}

TEST_F(DumpfileTest, ZeroRegisterPrstatusIsDroppedRealOneKept) {
  CoreBuilder c = TestKernel::Kdump();
  std::string zero(336, '\0');
  std::string real(336, '\0');
  real[112 + 8] = 1;
  c.notes = testing::Note("CORE", NT_PRSTATUS, zero) + testing::Note("CORE", NT_PRSTATUS, real) +
            testing::Note("QEMU", 0, std::string(64, 'q')) + c.notes;
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto b, Open(c));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto snap, b->Current());
  ASSERT_EQ(snap->facts.cpus.size(), 1u);
  EXPECT_EQ(snap->facts.cpus[0].cpu, 1);  // the second CPU's note
  ASSERT_EQ(snap->facts.cpus[0].regs.size(), 27u);
  EXPECT_EQ(snap->facts.cpus[0].regs[1], 1u);
  EXPECT_TRUE(snap->warnings.empty());
}

TEST_F(DumpfileTest, PrstatusOfAnotherLayoutIsDroppedWithAWarning) {
  CoreBuilder c = TestKernel::Kdump();
  std::string compat(124, '\1');  // a 32-bit task's struct elf_prstatus
  c.notes = testing::Note("CORE", NT_PRSTATUS, compat) + c.notes;
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto b, Open(c));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto snap, b->Current());
  EXPECT_TRUE(snap->facts.cpus.empty());
  ASSERT_EQ(snap->warnings.size(), 1u);
  ExpectMessageHas(absl::InternalError(snap->warnings[0]), "NT_PRSTATUS note 0 dropped");
  ExpectMessageHas(absl::InternalError(snap->warnings[0]), "336");
}

// A dump that changes after open: the snapshot is refused from then on (opens of the views
// fail), and so is every read of its bytes, with a message naming the file, what changed
// and what to do.
TEST_F(DumpfileTest, ChangeAfterOpenFailsCurrentAndReads) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto b, Open(TestKernel::Kdump()));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto snap, b->Current());
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  Truncate(static_cast<uint64_t>(st.st_size) - 4096);
  auto again = b->Current();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  ExpectMessageHas(again.status(), path_ + " changed while mounted (size ");
  ExpectMessageHas(again.status(), "remount to see the new contents");
  uint8_t buf[16];
  absl::Status read = snap->map.ReadPhys(TestKernel::kRamStart, absl::MakeSpan(buf));
  ASSERT_FALSE(read.ok());
  ExpectMessageHas(read, "changed while mounted");
  EXPECT_EQ(b->Stats(), (std::vector<std::pair<std::string, std::string>>{{"source_changed", "1"}}));
}

TEST_F(DumpfileTest, UnchangedFileKeepsServing) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto b, Open(TestKernel::Kdump()));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto snap, b->Current());
  KCOREFS_ASSERT_OK(b->Current().status());
  uint8_t buf[16];
  KCOREFS_ASSERT_OK(snap->map.ReadPhys(TestKernel::kRamStart, absl::MakeSpan(buf)));
  EXPECT_EQ(b->Stats(), (std::vector<std::pair<std::string, std::string>>{{"source_changed", "0"}}));
}

}  // namespace
}  // namespace kcorefs::backends
