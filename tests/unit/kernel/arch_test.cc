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

TEST(ArchTest, Aarch64HasARowButItsLookupIsUnimplemented) {
  const Arch* row = ArchByMachine(EM_AARCH64);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->name, "aarch64");
  auto a = LookupArch(EM_AARCH64);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(a.status().message(),
            "kcorefs derives the kernel layout of x86_64 only; aarch64 is not supported yet");
}

// Whatever is asked of an architecture without derivations, the answer is the same.
TEST(ArchTest, EveryAarch64HookIsUnimplemented) {
  const Arch& a = *ArchByMachine(EM_AARCH64);
  mem::MemoryMap map;
  KCOREFS_ASSERT_OK_AND_ASSIGN(Vmcoreinfo v, Vmcoreinfo::Parse("OSRELEASE=6.1\n"));
  EXPECT_EQ(a.CheckSupported().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(a.DeriveLayout({map, v, "test", std::nullopt, std::nullopt}).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(a.NewPageTableWalker(map, v).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(a.ClassifySegment(0xffff000000000000ull, 0x40000000).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ArchTest, AnUnknownMachineIsUnimplementedNamingWhatIsSupported) {
  EXPECT_EQ(ArchByMachine(EM_PPC64), nullptr);
  auto a = LookupArch(EM_PPC64);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(a.status().message().find("ELF machine 21"), absl::string_view::npos);
  EXPECT_NE(a.status().message().find("x86_64 only"), absl::string_view::npos);
}

// Derivation refuses aarch64 before looking for VMCOREINFO: no scan of memory, no list of
// x86_64 keys it lacks.
TEST(ArchTest, DeriveKernelFactsRefusesAarch64First) {
  KernelHints hints;
  hints.arch = ArchByMachine(EM_AARCH64);
  auto f = DeriveKernelFacts(mem::MemoryMap(), hints, {});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(f.status().message().find("init_top_pgt"), absl::string_view::npos);
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
  EXPECT_TRUE(has(arm, "OSRELEASE"));
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
