#include "kcorefs/kernel/arch.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include <gtest/gtest.h>

#include "kcorefs/kernel/cpu_state.h"
#include "kcorefs/kernel/kernel_facts.h"
#include "tests/testing/core_builder.h"
#include "tests/testing/page_tables.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::kernel {
namespace {

constexpr uint64_t kNoAddr = mem::kNoAddr;

TEST(ArchTest, LookupGivesTheX86_64RowWithItsFacts) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(const Arch* a, LookupArch(EM_X86_64));
  EXPECT_EQ(a, &ArchX86_64());
  EXPECT_EQ(a->name, "x86_64");
  EXPECT_EQ(a->page_size, 4096u);
  EXPECT_EQ(a->prstatus.size, 336u);
  EXPECT_EQ(a->prstatus.pid_offset, 32u);
  EXPECT_EQ(a->prstatus.reg_offset, 112u);
  EXPECT_EQ(a->prstatus.reg_count, 27u);
  EXPECT_EQ(ArchByName("x86_64"), a);
}

TEST(ArchTest, LookupGivesTheAarch64RowWithItsFacts) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(const Arch* a, LookupArch(EM_AARCH64));
  EXPECT_EQ(a->name, "aarch64");
  EXPECT_EQ(a->prstatus.size, 392u);
  EXPECT_EQ(a->prstatus.reg_offset, 112u);
  EXPECT_EQ(a->prstatus.reg_count, 34u);
  EXPECT_EQ(ArchByName("aarch64"), a);
}

// A 6.1 arm64 kernel in QEMU's shape (RAM with p_vaddr 0): the linear map from VA_BITS
// and PHYS_OFFSET, the image found through swapper_pg_dir across the unmapped 64 KiB
// head before _stext and the padding between its segments.
TEST(ArchTest, Aarch64DerivesLinearMapAndImageFromPageTables) {
  constexpr uint64_t kRam = 0x40000000;
  constexpr uint64_t kKaslr = 0x2e00000;
  constexpr uint64_t kText = 0xffff800008000000ull + kKaslr;
  constexpr uint64_t kImagePhys = kRam + 0x200000;
  constexpr uint64_t kVoffset = kText - kImagePhys;
  constexpr uint64_t kTop = kRam + 0x100000;  // swapper_pg_dir
  std::string ram(8 << 20, '\0');
  testing::PageTableBuilder b(&ram, kTop, kRam + 0x101000, 4, /*arm64=*/true, kRam);
  // _stext.._etext, then after a 64 KiB gap the rest, in 4 KiB pages; then a 2 MiB block.
  for (uint64_t off = 0x10000; off < 0x100000; off += 0x1000) b.Map(kText + off, kImagePhys + off, 0x1000);
  for (uint64_t off = 0x110000; off < 0x200000; off += 0x1000) b.Map(kText + off, kImagePhys + off, 0x1000);
  b.Map(kText + 0x200000, kImagePhys + 0x200000, 2 << 20);
  // Something else far above, physically elsewhere: not the image.
  b.Map(kText + 0x400000, kRam, 0x1000);
  auto src = std::make_shared<io::BufferByteSource>("ram", ram);
  auto map = mem::MemoryMap::Create({mem::Segment{kRam, ram.size(), ram.size(), src, 0}}, {});
  ASSERT_TRUE(map.ok());
  KCOREFS_ASSERT_OK_AND_ASSIGN(
      Vmcoreinfo v, Vmcoreinfo::Parse(testing::TestVmcoreinfoArm64(kKaslr, kVoffset, kRam,
                                                                   kTop + kVoffset, kText + 0x10000)));
  const Arch& a = *ArchByMachine(EM_AARCH64);
  KCOREFS_ASSERT_OK_AND_ASSIGN(KernelLayout l, a.DeriveLayout({*map, v, "test", std::nullopt, std::nullopt}));
  EXPECT_EQ(l.kaslr_offset, kKaslr);
  // (paddr - PHYS_OFFSET) | 0xffff000000000000
  EXPECT_EQ(l.direct_map_base + kRam, 0xffff000000000000ull);
  EXPECT_EQ(l.image.vaddr, kText);
  EXPECT_EQ(l.image.paddr, kImagePhys);
  EXPECT_EQ(l.image.size, 0x400000u);
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto walker, a.NewPageTableWalker(*map, v));
  KCOREFS_ASSERT_OK_AND_ASSIGN(Translation t, walker->Translate(kText + 0x212345));
  EXPECT_EQ(t.paddr, kImagePhys + 0x212345);
  EXPECT_EQ(t.page_size, 2u << 20);
  EXPECT_TRUE(absl::IsNotFound(walker->Translate(kText).status()));
}

TEST(ArchTest, Aarch64RefusesWhatItCannotPlaceNamingTheKey) {
  const Arch& a = *ArchByMachine(EM_AARCH64);
  mem::MemoryMap map;
  auto derive = [&](const std::string& text) {
    auto v = Vmcoreinfo::Parse(text);
    EXPECT_TRUE(v.ok());
    return a.DeriveLayout({map, *v, "test", std::nullopt, std::nullopt}).status();
  };
  std::string good = testing::TestVmcoreinfoArm64(0, 0xffff7fffc8000000ull, 0x40000000,
                                                  0xffff800009000000ull, 0xffff800008010000ull);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  absl::Status s = derive(with("NUMBER(VA_BITS)=48", "NUMBER(VA_BITS)=52"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("VA_BITS)=52"), absl::string_view::npos) << s;
  s = derive(with("PAGESIZE=4096", "PAGESIZE=65536"));
  EXPECT_NE(s.message().find("4 KiB pages only"), absl::string_view::npos) << s;
  s = derive(with("OSRELEASE=6.1.0", "OSRELEASE=4.19.0"));
  EXPECT_NE(s.message().find("5.4 and later"), absl::string_view::npos) << s;
  s = derive(with("NUMBER(kimage_voffset)=0x", "NUMBER(kimage_voffset)=zz"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("kimage_voffset"), absl::string_view::npos) << s;
  // No memory at all: the image cannot be found, and the message says where it looked.
  s = derive(good);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("swapper_pg_dir"), absl::string_view::npos) << s;
}

TEST(ArchTest, Aarch64ClassifiesKcoreAndQemuSegments) {
  const Arch& a = *ArchByMachine(EM_AARCH64);
  auto cls = [&](uint64_t va, uint64_t pa) { return *a.ClassifySegment(va, pa); };
  EXPECT_EQ(cls(0xffff000000000000ull, 0x40000000), SegmentClass::kDirectMapRam);
  EXPECT_EQ(cls(0xffffff8000000000ull, 0x40000000), SegmentClass::kDirectMapRam);  // 39-bit
  EXPECT_EQ(cls(0xffff80000a000000ull, 0x40200000), SegmentClass::kKernelImage);
  EXPECT_EQ(cls(0, 0x40000000), SegmentClass::kOtherRam);
  EXPECT_EQ(cls(0xffff800080000000ull, kNoAddr), SegmentClass::kVirtualOnly);
  EXPECT_EQ(cls(0, kNoAddr), SegmentClass::kUnaddressable);
}

TEST(ArchTest, AnUnknownMachineIsUnimplementedNamingWhatIsSupported) {
  EXPECT_EQ(ArchByMachine(EM_PPC64), nullptr);
  auto a = LookupArch(EM_PPC64);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(a.status().message().find("ELF machine 21"), absl::string_view::npos);
  EXPECT_NE(a.status().message().find("x86_64, aarch64 only"), absl::string_view::npos);
}

TEST(ArchTest, RequiredKeysArePerArchitecture) {
  auto has = [](const Arch& a, absl::string_view key) {
    const auto& k = a.required_vmcoreinfo_keys;
    return std::find(k.begin(), k.end(), key) != k.end();
  };
  const Arch& x86 = ArchX86_64();
  for (absl::string_view key : {"OSRELEASE", "PAGESIZE", "SYMBOL(swapper_pg_dir)",
                                "SYMBOL(init_top_pgt)", "NUMBER(phys_base)", "KERNELOFFSET"}) {
    EXPECT_TRUE(has(x86, key)) << key;
  }
  const Arch& arm = *ArchByMachine(EM_AARCH64);
  for (absl::string_view key : {"OSRELEASE", "NUMBER(VA_BITS)", "NUMBER(kimage_voffset)",
                                "NUMBER(PHYS_OFFSET)", "KERNELOFFSET"}) {
    EXPECT_TRUE(has(arm, key)) << key;
  }
  EXPECT_FALSE(has(arm, "SYMBOL(init_top_pgt)"));
}

struct ClassifyCase {
  const char* what;
  uint64_t vaddr;
  uint64_t paddr;
  SegmentClass want;
};

class X86ClassifyTest : public ::testing::TestWithParam<ClassifyCase> {};

TEST_P(X86ClassifyTest, SortsByAddresses) {
  const ClassifyCase& c = GetParam();
  KCOREFS_ASSERT_OK_AND_ASSIGN(SegmentClass got, ArchX86_64().ClassifySegment(c.vaddr, c.paddr));
  EXPECT_EQ(got, c.want) << c.what;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, X86ClassifyTest,
    ::testing::Values(
        ClassifyCase{"kdump image", 0xffffffff9f000000ull, 0x1000000, SegmentClass::kKernelImage},
        ClassifyCase{"image map start", 0xffffffff80000000ull, 0, SegmentClass::kKernelImage},
        ClassifyCase{"past the 1 GiB image map (modules)", 0xffffffffc0000000ull, 0x1000000,
                     SegmentClass::kOtherRam},
        ClassifyCase{"4-level direct map", 0xffff888000100000ull, 0x100000, SegmentClass::kDirectMapRam},
        ClassifyCase{"randomised direct map", 0xffff9c0001000000ull, 0x1000000,
                     SegmentClass::kDirectMapRam},
        ClassifyCase{"5-level direct map", 0xff11000000100000ull, 0x100000, SegmentClass::kDirectMapRam},
        ClassifyCase{"below the 5-level window", 0xff10ffffffffffffull, 0x1000, SegmentClass::kOtherRam},
        ClassifyCase{"vaddr below paddr", 0xff11000000000000ull, 0xff12000000000000ull,
                     SegmentClass::kOtherRam},
        ClassifyCase{"QEMU RAM (vaddr 0)", 0, 0x100000, SegmentClass::kOtherRam},
        ClassifyCase{"kcore vmalloc", 0xffffc90000000000ull, kNoAddr, SegmentClass::kVirtualOnly},
        ClassifyCase{"link-time alias of a kcore view", 0xffffffff81000000ull, kNoAddr,
                     SegmentClass::kVirtualOnly},
        ClassifyCase{"no address at all", 0, kNoAddr, SegmentClass::kUnaddressable}));

TEST(ArchTest, X86WalkerFactoryReadsTheKernelsOwnTables) {
  constexpr uint64_t kTop = 0x1000;
  constexpr int64_t kPhysBase = -0x1e000000;
  std::string ram(1 << 20, '\0');
  testing::PageTableBuilder b(&ram, kTop, 0x2000);
  b.Map(0xffff9c0000000000ull, 0, 1ull << 30);
  auto src = std::make_shared<io::BufferByteSource>("ram", ram);
  auto map = mem::MemoryMap::Create({mem::Segment{0, ram.size(), ram.size(), src, 0}}, {});
  ASSERT_TRUE(map.ok());
  // init_top_pgt's physical address is its image offset plus phys_base.
  uint64_t top_vaddr = 0xffffffff80000000ull + kTop - static_cast<uint64_t>(kPhysBase);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Vmcoreinfo v,
                               Vmcoreinfo::Parse(testing::TestVmcoreinfo(0x1e000000, kPhysBase, top_vaddr)));
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto walker, ArchX86_64().NewPageTableWalker(*map, v));
  KCOREFS_ASSERT_OK_AND_ASSIGN(Translation t, walker->Translate(0xffff9c0000012345ull));
  EXPECT_EQ(t.paddr, 0x12345u);
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto first, walker->FirstMapped(0xffff888000000000ull, 0xfffffe0000000000ull));
  EXPECT_EQ(first, 0xffff9c0000000000ull);
}

TEST(CpuStateTest, DecodesPidAndRegistersFromTheX86_64Layout) {
  std::string desc(336, '\0');
  int32_t pid = 4242;
  std::memcpy(&desc[32], &pid, 4);
  for (uint64_t i = 0; i < 27; ++i) {
    uint64_t r = 0x1000 + i;
    std::memcpy(&desc[112 + 8 * i], &r, 8);
  }
  KCOREFS_ASSERT_OK_AND_ASSIGN(CpuState s, DecodePrstatus(ArchX86_64(), desc, 3));
  EXPECT_EQ(s.cpu, 3);
  EXPECT_EQ(s.pid, 4242);
  ASSERT_EQ(s.regs.size(), 27u);
  EXPECT_EQ(s.regs[0], 0x1000u);   // r15
  EXPECT_EQ(s.regs[16], 0x1010u);  // rip
  EXPECT_EQ(s.regs[26], 0x101au);  // gs
  EXPECT_TRUE(s.HasRegisters());
}

TEST(CpuStateTest, AllZeroRegistersAreNotRegisters) {
  std::string desc(336, '\0');
  desc[32] = 7;  // a pid alone is not a register set
  KCOREFS_ASSERT_OK_AND_ASSIGN(CpuState s, DecodePrstatus(ArchX86_64(), desc, 0));
  EXPECT_FALSE(s.HasRegisters());
}

TEST(CpuStateTest, AnotherSizeIsRejectedNamingBoth) {
  auto s = DecodePrstatus(ArchX86_64(), std::string(392, '\0'), 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("392"), absl::string_view::npos);
  EXPECT_NE(s.status().message().find("336"), absl::string_view::npos);
}

}  // namespace
}  // namespace kcorefs::kernel
