#include "kernel/arch/x86_64_page_table.h"

#include <gtest/gtest.h>

#include "tests/testing/page_tables.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::kernel {
namespace {

constexpr uint64_t kTop = 0x1000;
constexpr uint64_t kDirectMap = 0xffff9c0000000000ull;
constexpr uint64_t kVmalloc = 0xffffc90000123000ull;
constexpr uint64_t kText = 0xffffffff9f000000ull;

class PageTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_.assign(1 << 20, '\0');
    testing::PageTableBuilder b(&ram_, kTop, 0x2000);
    b.Map(kDirectMap, 0, 1ull << 30);
    b.Map(kText, 0x200000, 2 << 20);
    b.Map(kText + (2 << 20), 0x400000, 2 << 20);
    b.Map(kVmalloc, 0x80000, 4096);
    auto src = std::make_shared<io::BufferByteSource>("ram", ram_);
    auto m = mem::MemoryMap::Create({mem::Segment{0, ram_.size(), ram_.size(), src, 0}}, {});
    ASSERT_TRUE(m.ok());
    map_ = *m;
  }
  std::string ram_;
  mem::MemoryMap map_;
};

TEST_F(PageTableTest, TranslatesGigabyteMegabyteAndSmallPages) {
  X86PageTable pt(map_, kTop, false, 0);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Translation a, pt.Translate(kDirectMap + 0x12345));
  EXPECT_EQ(a.paddr, 0x12345u);
  EXPECT_EQ(a.page_size, 1ull << 30);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Translation b, pt.Translate(kText + (2 << 20) + 8));
  EXPECT_EQ(b.paddr, 0x400008u);
  EXPECT_EQ(b.page_size, 2u << 20);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Translation c, pt.Translate(kVmalloc + 0x10));
  EXPECT_EQ(c.paddr, 0x80010u);
  EXPECT_EQ(c.page_size, 4096u);
}

TEST_F(PageTableTest, UnmappedIsNotFound) {
  X86PageTable pt(map_, kTop, false, 0);
  EXPECT_EQ(pt.Translate(0xffffc90000200000ull).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PageTableTest, FirstMappedFindsLowestMappingInWindow) {
  X86PageTable pt(map_, kTop, false, 0);
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto first, pt.FirstMapped(0xffff888000000000ull, 0xfffffe0000000000ull));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, kDirectMap);
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto vm, pt.FirstMapped(kDirectMap + (1ull << 30), 0xfffffe0000000000ull));
  ASSERT_TRUE(vm.has_value());
  EXPECT_EQ(*vm, kVmalloc);
}

TEST_F(PageTableTest, TableOutsideTheSourceIsAFault) {
  X86PageTable pt(map_, 0x7000000, false, 0);
  EXPECT_EQ(pt.Translate(kDirectMap).status().code(), absl::StatusCode::kDataLoss);
}

// 5-level paging (NUMBER(pgtable_l5_enabled)=1): the direct map starts at or above
// __PAGE_OFFSET_BASE_L5 and the walk has one more level.
TEST(FiveLevelPageTableTest, TranslatesAndFindsTheDirectMap) {
  constexpr uint64_t kDirectMapL5 = 0xff11200000000000ull;
  std::string ram(1 << 20, '\0');
  testing::PageTableBuilder b(&ram, kTop, 0x2000, /*levels=*/5);
  b.Map(kDirectMapL5, 0, 1ull << 30);
  b.Map(0xffffffff9f000000ull, 0x200000, 2 << 20);
  auto src = std::make_shared<io::BufferByteSource>("ram", ram);
  auto map = mem::MemoryMap::Create({mem::Segment{0, ram.size(), ram.size(), src, 0}}, {});
  ASSERT_TRUE(map.ok());
  X86PageTable pt(*map, kTop, /*five_level=*/true, 0);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Translation t, pt.Translate(kDirectMapL5 + 0x5008));
  EXPECT_EQ(t.paddr, 0x5008u);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Translation img, pt.Translate(0xffffffff9f000010ull));
  EXPECT_EQ(img.paddr, 0x200010u);
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto first, pt.FirstMapped(0xff11000000000000ull, 0xfffffe0000000000ull));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, kDirectMapL5);
  // Read as 4-level, the same tables give other answers: the level count matters.
  X86PageTable four(*map, kTop, false, 0);
  auto wrong = four.Translate(kDirectMapL5 + 0x5008);
  EXPECT_TRUE(!wrong.ok() || wrong->paddr != 0x5008u);
}

}  // namespace
}  // namespace kcorefs::kernel
