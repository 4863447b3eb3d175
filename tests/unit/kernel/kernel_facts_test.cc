#include "kcorefs/kernel/kernel_facts.h"

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include "kcorefs/base/errors.h"

#include "tests/testing/core_builder.h"
#include "tests/testing/page_tables.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::kernel {
namespace {

constexpr uint64_t kTopPaddr = 0x1000;
constexpr uint64_t kKaslr = 0x1e000000;
constexpr uint64_t kText = 0xffffffff81000000ull + kKaslr;
constexpr uint64_t kImagePaddr = 0x200000;
constexpr int64_t kPhysBase = static_cast<int64_t>(kImagePaddr - 0x1000000 - kKaslr);
constexpr uint64_t kDirectMap = 0xffffa08000000000ull;

class KernelFactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_.assign(8 << 20, '\0');
    testing::PageTableBuilder b(&ram_, kTopPaddr, 0x2000);
    b.Map(kDirectMap, 0, 1ull << 30);
    b.Map(kText, kImagePaddr, 2 << 20);
    b.Map(kText + (2 << 20), kImagePaddr + (2 << 20), 2 << 20);
    auto src = std::make_shared<io::BufferByteSource>("ram", ram_);
    auto m = mem::MemoryMap::Create({mem::Segment{0, ram_.size(), ram_.size(), src, 0}}, {});
    ASSERT_TRUE(m.ok());
    map_ = *m;
    hints_.arch = &ArchX86_64();
    uint64_t top_vaddr = 0xffffffff80000000ull + kTopPaddr - static_cast<uint64_t>(kPhysBase);
    hints_.vmcoreinfo = testing::TestVmcoreinfo(kKaslr, kPhysBase, top_vaddr);
    hints_.vmcoreinfo_origin = "test";
  }
  std::string ram_;
  mem::MemoryMap map_;
  KernelHints hints_;
};

TEST_F(KernelFactsTest, DerivesDirectMapAndImageFromPageTables) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(KernelFacts f, DeriveKernelFacts(map_, hints_, {}));
  EXPECT_EQ(f.direct_map_base, kDirectMap);
  EXPECT_EQ(f.direct_map_origin, "page tables");
  EXPECT_EQ(f.image.vaddr, kText);
  EXPECT_EQ(f.image.paddr, kImagePaddr);
  EXPECT_EQ(f.image.size, 4u << 20);
  EXPECT_EQ(f.image_link_vaddr(), 0xffffffff81000000ull);
  EXPECT_EQ(f.phys_base, kPhysBase);
  // Served with the base the kernel does not export, printed as the kernel prints NUMBER().
  EXPECT_EQ(f.vmcoreinfo.Get("NUMBER(page_offset_base)"),
            std::to_string(static_cast<int64_t>(kDirectMap)));
}

void ExpectMessageHas(const absl::Status& s, absl::string_view what) {
  EXPECT_NE(s.message().find(what), absl::string_view::npos) << s;
}

// A cut source: the walk's failure names the cut when the address it needed is missing.
TEST_F(KernelFactsTest, DerivationOverTheMissingPartPointsAtTheTruncation) {
  // The map keeps only the first page, so the top table at kTopPaddr is gone.
  auto src = std::make_shared<io::BufferByteSource>("ram", ram_.substr(0, 0x1000));
  auto m = mem::MemoryMap::Create({mem::Segment{0, 0x1000, 0x1000, src, 0}}, {});
  ASSERT_TRUE(m.ok());
  hints_.truncation = Truncation{"cut.core", 9000000, 5000, {{0x1000, ram_.size()}}};
  auto f = DeriveKernelFacts(*m, hints_, {});
  ASSERT_FALSE(f.ok());
  ExpectMessageHas(f.status(), "cannot derive the direct-map base");
  ExpectMessageHas(f.status(), "physical 0x1000 is in the part missing from the truncated cut.core "
                               "(cut at 5000 of 9000000 bytes)");
  EXPECT_EQ(base::FaultAddress(f.status()), 0x1000u);  // the payload survives
  // An address outside the missing ranges only names the cut as a likely cause.
  hints_.truncation->missing_phys = {{0x100000, 0x200000}};
  f = DeriveKernelFacts(*m, hints_, {});
  ASSERT_FALSE(f.ok());
  ExpectMessageHas(f.status(), "this may be caused by the truncated cut.core");
  EXPECT_EQ(hints_.truncation->Headline(),
            "cut.core is truncated: headers describe 9000000 bytes, the file has 5000");
  EXPECT_TRUE(hints_.truncation->Missing(0x100000));
  EXPECT_TRUE(hints_.truncation->Missing(0x1fffff));
  EXPECT_FALSE(hints_.truncation->Missing(0x200000));
  EXPECT_FALSE(hints_.truncation->Missing(0xfffff));
}

TEST_F(KernelFactsTest, HintsFromTheSourceWinOverTheWalk) {
  hints_.direct_map_base = 0xffff888000000000ull;
  hints_.image = ImageRange{kText, kImagePaddr, 0x123000};
  KCOREFS_ASSERT_OK_AND_ASSIGN(KernelFacts f, DeriveKernelFacts(map_, hints_, {}));
  EXPECT_EQ(f.direct_map_base, 0xffff888000000000ull);
  EXPECT_EQ(f.direct_map_origin, "source PT_LOADs");
  EXPECT_EQ(f.image.size, 0x123000u);
}

TEST_F(KernelFactsTest, MissingKeysAreNamedWithTheFix) {
  hints_.vmcoreinfo = "OSRELEASE=6.1\nPAGESIZE=4096\n";
  auto f = DeriveKernelFacts(map_, hints_, {});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("SYMBOL(init_top_pgt)"), absl::string_view::npos);
  EXPECT_NE(f.status().message().find("--vmcoreinfo"), absl::string_view::npos);
}

TEST_F(KernelFactsTest, OverrideReplacesTheSourceText) {
  DeriveOptions o;
  o.vmcoreinfo_override = *hints_.vmcoreinfo + "EXTRA=1\n";
  o.vmcoreinfo_override_name = "/tmp/v";
  hints_.vmcoreinfo = "garbage";
  KCOREFS_ASSERT_OK_AND_ASSIGN(KernelFacts f, DeriveKernelFacts(map_, hints_, o));
  EXPECT_EQ(f.vmcoreinfo.Get("EXTRA"), "1");
  EXPECT_EQ(f.vmcoreinfo_origin, "--vmcoreinfo /tmp/v");
}

TEST_F(KernelFactsTest, NoVmcoreinfoAnywhereSaysWhatToDo) {
  hints_.vmcoreinfo.reset();
  auto f = DeriveKernelFacts(map_, hints_, {});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("--vmcoreinfo FILE"), absl::string_view::npos);
}

TEST_F(KernelFactsTest, ScannedNoteIsUsedWhenTheSourceHasNone) {
  std::string note = testing::Note("VMCOREINFO", 0, *hints_.vmcoreinfo);
  ram_.replace(0x700000, note.size(), note);
  auto src = std::make_shared<io::BufferByteSource>("ram", ram_);
  auto m = mem::MemoryMap::Create({mem::Segment{0, ram_.size(), ram_.size(), src, 0}}, {});
  ASSERT_TRUE(m.ok());
  hints_.vmcoreinfo.reset();
  KCOREFS_ASSERT_OK_AND_ASSIGN(KernelFacts f, DeriveKernelFacts(*m, hints_, {}));
  EXPECT_NE(f.vmcoreinfo_origin.find("0x700000"), std::string::npos);
  EXPECT_EQ(f.osrelease, "6.1.0-test-amd64");
}

// A source that fails with EIO past `bad`.
class FailingSource final : public io::ByteSource {
 public:
  FailingSource(std::string bytes, uint64_t bad) : bytes_(std::move(bytes)), bad_(bad) {}
  uint64_t size() const override { return bytes_.size(); }
  const std::string& name() const override { return name_; }

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time) const override {
    if (offset + out.size() > bad_) return base::ErrnoError(EIO, "read /dev/flaky");
    std::memcpy(out.data(), bytes_.data() + offset, out.size());
    return absl::OkStatus();
  }

 private:
  std::string name_ = "/dev/flaky";
  std::string bytes_;
  uint64_t bad_;
};

// An unreadable source is not a kernel without VMCOREINFO: the user must learn that the
// source fails, and where.
TEST_F(KernelFactsTest, ScanThatCannotReadTheSourceReportsTheIoError) {
  std::string note = testing::Note("VMCOREINFO", 0, *hints_.vmcoreinfo);
  ram_.replace(0x700000, note.size(), note);
  auto src = std::make_shared<FailingSource>(ram_, 0x400000);
  auto m = mem::MemoryMap::Create({mem::Segment{0, ram_.size(), ram_.size(), src, 0}}, {});
  ASSERT_TRUE(m.ok());
  hints_.vmcoreinfo.reset();
  auto f = DeriveKernelFacts(*m, hints_, {});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(base::KindOf(f.status()), base::ErrorKind::kPermanent);
  EXPECT_EQ(f.status().message().find("none was found"), absl::string_view::npos) << f.status();
  EXPECT_NE(f.status().message().find("could not read physical 0x400000 from /dev/flaky: read "
                                      "/dev/flaky: Input/output error"),
            absl::string_view::npos)
      << f.status();
}

TEST_F(KernelFactsTest, CpusPassThroughInOrder) {
  hints_.cpus = {CpuState{0, 10, std::vector<uint64_t>(27, 1)}, CpuState{2, 12, std::vector<uint64_t>(27, 2)}};
  KCOREFS_ASSERT_OK_AND_ASSIGN(KernelFacts f, DeriveKernelFacts(map_, hints_, {}));
  ASSERT_EQ(f.cpus.size(), 2u);
  EXPECT_EQ(f.cpus[1].cpu, 2);
  EXPECT_EQ(f.cpus[1].pid, 12);
}

}  // namespace
}  // namespace kcorefs::kernel
