#include "kcorefs/kernel/page_classifier.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "kcorefs/io/byte_source.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::kernel {
namespace {

constexpr uint64_t kVmemmap = 0xffffea0000000000ull;
constexpr uint64_t kStructPhys = 0x100000;  // struct pages live here in `ram_`
constexpr uint64_t kSize = 64;               // SIZE(page)
constexpr uint64_t kMappedStructs = 256;     // pfns with a mapped struct page
constexpr uint64_t kDirect = 0xffff888000000000ull;

// The memory map of vmemmap (and a direct map at kDirect) without page tables: the walker
// under test is the classifier, not x86_64's.
class LinearWalker : public PageTableWalker {
 public:
  absl::StatusOr<Translation> Translate(uint64_t v) const override {
    if (v >= kVmemmap && v < kVmemmap + kMappedStructs * kSize) {
      return Translation{kStructPhys + (v - kVmemmap), 4096};
    }
    if (v >= kDirect && v < kDirect + (1 << 21)) return Translation{v - kDirect, 4096};
    return absl::NotFoundError(absl::StrCat("virtual address ", v, " is not mapped"));
  }
  absl::StatusOr<std::optional<uint64_t>> FirstMapped(uint64_t, uint64_t) const override {
    return std::nullopt;
  }
};

constexpr char kVmcoreinfo[] =
    "OSRELEASE=6.1.0-test\n"
    "PAGESIZE=4096\n"
    "SIZE(page)=64\n"
    "OFFSET(page.flags)=0\n"
    "OFFSET(page.mapping)=24\n"
    "OFFSET(page.lru)=8\n"
    "OFFSET(page._mapcount)=48\n"
    "OFFSET(page.private)=40\n"
    "OFFSET(page.compound_head)=8\n"
    "OFFSET(page.compound_dtor)=40\n"
    "NUMBER(HUGETLB_PAGE_DTOR)=2\n"
    "NUMBER(PG_lru)=4\n"
    "NUMBER(PG_swapcache)=10\n"
    "NUMBER(PG_slab)=9\n"
    "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n"
    "SYMBOL(mem_section)=ffff888000180000\n"
    "SIZE(mem_section)=16\n"
    "OFFSET(mem_section.section_mem_map)=0\n";

class PageClassifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_.assign(2 << 20, '\0');
    auto vi = Vmcoreinfo::Parse(kVmcoreinfo);
    ASSERT_TRUE(vi.ok()) << vi.status();
    vi_ = *vi;
    // Every struct page starts as an in-use kernel page (_mapcount -1).
    for (uint64_t pfn = 0; pfn < kMappedStructs; ++pfn) Put32(pfn, 48, -1);
  }
  void Put64(uint64_t pfn, uint64_t off, uint64_t v) {
    std::memcpy(&ram_[kStructPhys + pfn * kSize + off], &v, 8);
  }
  void Put32(uint64_t pfn, uint64_t off, int32_t v) {
    std::memcpy(&ram_[kStructPhys + pfn * kSize + off], &v, 4);
  }
  void Tail(uint64_t pfn, uint64_t head) { Put64(pfn, 8, kVmemmap + head * kSize + 1); }
  mem::MemoryMap Map() {
    auto src = std::make_shared<io::BufferByteSource>("ram", ram_);
    auto m = mem::MemoryMap::Create({mem::Segment{0, ram_.size(), ram_.size(), src, 0}}, {});
    EXPECT_TRUE(m.ok());
    return *m;
  }
  PageClassifier Classifier(const mem::MemoryMap& map) {
    auto layout = PageLayout::FromVmcoreinfo(vi_);
    EXPECT_TRUE(layout.ok()) << layout.status();
    return PageClassifier(map, *layout, kVmemmap, std::make_unique<LinearWalker>());
  }
  std::string ram_;
  Vmcoreinfo vi_;
};

TEST_F(PageClassifierTest, TellsUserFreeAndKernelPages) {
  Put64(16, 24, 0xffff888000123401ull);  // anonymous: mapping | PAGE_MAPPING_ANON
  Put64(17, 0, 1u << 4);                 // page cache: PG_lru
  Put64(17, 24, 0xffff888000123400ull);
  Put64(18, 0, 1u << 10);                // swap cache
  Put32(20, 48, -129);                   // free order-2 block: pfns 20..23
  Put64(20, 40, 2);
  Put64(32, 24, 0xffff888000555501ull);  // anonymous THP of order 2: head 32, tails 33..35
  for (uint64_t t = 33; t < 36; ++t) Tail(t, 32);
  Put64(40, 0, 1u << 9);                 // slab: mapping is its kmem_cache, kept
  Put64(40, 24, 0xffff888000777700ull);
  Put64(48, 24, 0xffff888000888800ull);  // hugetlbfs page: not on the LRU, dtor in page[1]
  Tail(49, 48);
  ram_[kStructPhys + 49 * kSize + 40] = 2;
  Put64(52, 24, 0);                      // an order-0 kernel page whose neighbour has 2 at 40
  ram_[kStructPhys + 53 * kSize + 40] = 2;
  mem::MemoryMap map = Map();
  PageClassifier c = Classifier(map);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Classification r, c.Classify(0, 64 * 4096));
  EXPECT_EQ(r.user_pages, 3u + 4u + 2u);  // 16, 17, 18; 32..35; 48, 49
  EXPECT_EQ(r.free_pages, 4u);
  EXPECT_EQ(r.unreadable_pages, 0u);
  PhysRanges want = {{16 * 4096, 19 * 4096}, {20 * 4096, 24 * 4096}, {32 * 4096, 36 * 4096},
                     {48 * 4096, 50 * 4096}};
  EXPECT_EQ(r.hidden, want);
}

TEST_F(PageClassifierTest, TailWhoseHeadIsInAnEarlierBatch) {
  Put64(64, 0, 1u << 4);  // a file folio of order 4 on the LRU: 64..79
  for (uint64_t t = 65; t < 80; ++t) Tail(t, 64);
  mem::MemoryMap map = Map();
  PageClassifier c = Classifier(map);
  // Batches of 4 struct pages, and a range that starts at a tail.
  KCOREFS_ASSERT_OK_AND_ASSIGN(Classification r, c.Classify(70 * 4096, 20 * 4096, 4 * kSize));
  EXPECT_EQ(r.user_pages, 10u);
  PhysRanges want = {{70 * 4096, 80 * 4096}};
  EXPECT_EQ(r.hidden, want);
}

TEST_F(PageClassifierTest, FreeBlockAcrossBatches) {
  Put32(96, 48, -129);
  Put64(96, 40, 4);  // 96..111
  mem::MemoryMap map = Map();
  PageClassifier c = Classifier(map);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Classification r, c.Classify(90 * 4096, 30 * 4096, 2 * kSize));
  EXPECT_EQ(r.free_pages, 16u);
  PhysRanges want = {{96 * 4096, 112 * 4096}};
  EXPECT_EQ(r.hidden, want);
}

TEST_F(PageClassifierTest, PagesWithoutAStructPageAreHidden) {
  mem::MemoryMap map = Map();
  PageClassifier c = Classifier(map);
  // pfns 250..259: the struct pages of 256.. are not mapped.
  KCOREFS_ASSERT_OK_AND_ASSIGN(Classification r, c.Classify(250 * 4096, 10 * 4096));
  EXPECT_EQ(r.unreadable_pages, 4u);
  PhysRanges want = {{256 * 4096, 260 * 4096}};
  EXPECT_EQ(r.hidden, want);
}

TEST_F(PageClassifierTest, PartialPagesAreClippedToTheRange) {
  Put64(5, 24, 0xffff888000123401ull);
  mem::MemoryMap map = Map();
  PageClassifier c = Classifier(map);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Classification r, c.Classify(5 * 4096 + 100, 200));
  PhysRanges want = {{5 * 4096 + 100, 5 * 4096 + 300}};
  EXPECT_EQ(r.hidden, want);
}

TEST_F(PageClassifierTest, FindsVmemmapThroughMemSection) {
  // mem_section roots at 0x180000 (direct map), root 0 -> sections at 0x181000; section 0
  // absent, section 1 present with vmemmap_base | flags.
  uint64_t root = kDirect + 0x181000;
  std::memcpy(&ram_[0x180000], &root, 8);
  uint64_t enc = kVmemmap | 0x7;
  std::memcpy(&ram_[0x181000 + 16], &enc, 8);
  mem::MemoryMap map = Map();
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto c, PageClassifier::Create(map, vi_, std::make_unique<LinearWalker>()));
  EXPECT_EQ(c->vmemmap_base(), kVmemmap);
}

TEST_F(PageClassifierTest, RefusesWithoutTheEntriesItNeeds) {
  std::string text = kVmcoreinfo;
  text.erase(text.find("OFFSET(page.mapping)=24\n"), 24);
  text.erase(text.find("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n"), 39);
  auto vi = Vmcoreinfo::Parse(text);
  ASSERT_TRUE(vi.ok());
  auto layout = PageLayout::FromVmcoreinfo(*vi);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(layout.status().message().find("OFFSET(page.mapping)"), std::string::npos) << layout.status();
  EXPECT_NE(layout.status().message().find("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"), std::string::npos);
  mem::MemoryMap map = Map();
  EXPECT_FALSE(PageClassifier::Create(map, *vi, std::make_unique<LinearWalker>()).ok());
}

TEST_F(PageClassifierTest, RefusesAnOffsetOutsideTheStructPage) {
  std::string text = kVmcoreinfo;
  text.replace(text.find("OFFSET(page.mapping)=24"), 23, "OFFSET(page.mapping)=60");
  auto vi = Vmcoreinfo::Parse(text);
  ASSERT_TRUE(vi.ok());
  auto layout = PageLayout::FromVmcoreinfo(*vi);
  ASSERT_FALSE(layout.ok());
  EXPECT_NE(layout.status().message().find("OFFSET(page.mapping)"), std::string::npos);
}

TEST(MemoryMapWithoutPhysTest, CutsHolesKeepingOffsetsAndZeroTails) {
  std::string bytes(0x10000, 'x');
  auto src = std::make_shared<io::BufferByteSource>("b", bytes);
  // [0x0, 0x8000): data; [0x10000, 0x14000) data 0x2000 then zeros.
  auto m = mem::MemoryMap::Create({mem::Segment{0, 0x8000, 0x8000, src, 0},
                                   mem::Segment{0x10000, 0x4000, 0x2000, src, 0x8000}},
                                  {});
  ASSERT_TRUE(m.ok());
  mem::MemoryMap cut = m->WithoutPhys(
      PhysRanges{{0x1000, 0x2000}, {0x7000, 0x11000}, {0x13000, 0x13800}});
  const auto& p = cut.physical();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].start, 0u);
  EXPECT_EQ(p[0].size, 0x1000u);
  EXPECT_EQ(p[1].start, 0x2000u);
  EXPECT_EQ(p[1].size, 0x5000u);
  EXPECT_EQ(p[1].source_offset, 0x2000u);
  EXPECT_EQ(p[2].start, 0x11000u);
  EXPECT_EQ(p[2].size, 0x2000u);
  EXPECT_EQ(p[2].data_size, 0x1000u);
  EXPECT_EQ(p[2].source_offset, 0x9000u);
  EXPECT_EQ(p[3].start, 0x13800u);
  EXPECT_EQ(p[3].size, 0x800u);
  EXPECT_EQ(p[3].data_size, 0u);
  std::vector<uint8_t> buf(8);
  EXPECT_FALSE(cut.ReadPhys(0x1800, absl::MakeSpan(buf)).ok());
  EXPECT_TRUE(cut.ReadPhys(0x2000, absl::MakeSpan(buf)).ok());
  EXPECT_EQ(buf[0], 'x');
}

}  // namespace
}  // namespace kcorefs::kernel
