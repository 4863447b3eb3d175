#include "kcorefs/elf/core_view.h"
#include "kcorefs/backends/backend.h"

#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "kcorefs/base/status_macros.h"
#include "tests/testing/core_builder.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::elf {
namespace {

using testing::TestKernel;

// The whole view read through ReadAt, parsed back with libelf.
class ParsedView {
 public:
  explicit ParsedView(const CoreView& v) {
    // Only the header part is materialised; data is checked through ReadAt.
    bytes_.resize(v.header().size());
    auto n = v.ReadAt(0, absl::MakeSpan(reinterpret_cast<uint8_t*>(bytes_.data()), bytes_.size()));
    EXPECT_TRUE(n.ok());
    elf_version(EV_CURRENT);
    elf_ = elf_memory(bytes_.data(), bytes_.size());
  }
  ~ParsedView() { elf_end(elf_); }
  size_t phnum() {
    size_t n = 0;
    elf_getphdrnum(elf_, &n);
    return n;
  }
  GElf_Phdr phdr(size_t i) {
    GElf_Phdr p{};
    gelf_getphdr(elf_, static_cast<int>(i), &p);
    return p;
  }
  GElf_Ehdr ehdr() {
    GElf_Ehdr e{};
    gelf_getehdr(elf_, &e);
    return e;
  }
  std::string NoteText() {
    GElf_Phdr n = phdr(0);
    return bytes_.substr(n.p_offset, n.p_filesz);
  }

 private:
  std::string bytes_;
  Elf* elf_ = nullptr;
};

std::string Read(const CoreView& v, uint64_t off, size_t n) {
  std::string out(n, '\0');
  auto got = v.ReadAt(off, absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), n));
  EXPECT_TRUE(got.ok()) << got.status();
  out.resize(got.ok() ? *got : 0);
  return out;
}

class CoreViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kcorefs-view-XXXXXX";
    ASSERT_NE(mkstemp(tmpl), -1);
    path_ = tmpl;
    TestKernel::Kdump().WriteTo(path_);
    auto b = backends::OpenBackend(path_, {});
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = std::move(*b);
    auto s = backend_->Current();
    ASSERT_TRUE(s.ok());
    snap_ = *s;
  }
  void TearDown() override { unlink(path_.c_str()); }
  std::string path_;
  std::unique_ptr<backends::Backend> backend_;
  std::shared_ptr<const backends::Snapshot> snap_;
};

TEST_F(CoreViewTest, VmcoreFollowsTheKdumpRules) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto v, CoreView::Build("vmcore", snap_));
  ParsedView p(*v);
  EXPECT_EQ(p.ehdr().e_type, ET_CORE);
  EXPECT_EQ(p.ehdr().e_phoff, 64u);
  ASSERT_EQ(p.phnum(), 3u);
  EXPECT_EQ(p.phdr(0).p_type, PT_NOTE);
  EXPECT_EQ(p.phdr(0).p_align, 4u);
  GElf_Phdr image = p.phdr(1);
  EXPECT_EQ(image.p_vaddr, TestKernel::kText);
  EXPECT_EQ(image.p_paddr, TestKernel::kRamStart);
  GElf_Phdr ram = p.phdr(2);
  EXPECT_EQ(ram.p_vaddr, TestKernel::kDirectMap + TestKernel::kRamStart);
  for (size_t i = 1; i < p.phnum(); ++i) {
    EXPECT_EQ(p.phdr(i).p_type, PT_LOAD);
    EXPECT_EQ(p.phdr(i).p_align, 0u);
    EXPECT_GE(p.phdr(i).p_offset, p.phdr(0).p_offset + p.phdr(0).p_filesz);
    EXPECT_EQ(p.phdr(i).p_offset % 4096, p.phdr(i).p_paddr % 4096);
    EXPECT_LE(p.phdr(i).p_offset + p.phdr(i).p_filesz, v->size());
  }
  std::string notes = p.NoteText();
  EXPECT_NE(notes.find("VMCOREINFO"), std::string::npos);
  EXPECT_NE(notes.find("NUMBER(page_offset_base)=" +
                       std::to_string(static_cast<int64_t>(TestKernel::kDirectMap))),
            std::string::npos);
  // Bytes at a physical address equal the source's, through both segments.
  EXPECT_EQ(Read(*v, ram.p_offset + 0x3008, 64), TestKernel::Pattern(TestKernel::kRamStart + 0x3008, 64));
  EXPECT_EQ(Read(*v, image.p_offset + 0x10, 64), TestKernel::Pattern(TestKernel::kRamStart + 0x10, 64));
}

TEST_F(CoreViewTest, KcoreIsSparseWithALinkTimeAlias) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto v, CoreView::Build("kcore", snap_));
  ParsedView p(*v);
  ASSERT_EQ(p.phnum(), 4u);
  GElf_Phdr runtime = p.phdr(1), alias = p.phdr(2), ram = p.phdr(3);
  EXPECT_EQ(runtime.p_vaddr, TestKernel::kText);
  EXPECT_EQ(alias.p_vaddr, 0xffffffff81000000ull);
  EXPECT_EQ(alias.p_paddr, ~0ull);
  EXPECT_EQ(alias.p_filesz, alias.p_memsz);
  EXPECT_EQ(runtime.p_offset - ram.p_offset, runtime.p_vaddr - ram.p_vaddr);
  EXPECT_EQ(ram.p_align, 4096u);
  EXPECT_EQ(Read(*v, alias.p_offset + 0x40, 32), Read(*v, runtime.p_offset + 0x40, 32));
  EXPECT_EQ(Read(*v, alias.p_offset + 0x40, 32), TestKernel::Pattern(TestKernel::kRamStart + 0x40, 32));
  EXPECT_GT(v->size(), 64ull << 40);  // ~100 TiB sparse, like /proc/kcore
  // Between segments the file reads as zeros.
  EXPECT_EQ(Read(*v, ram.p_offset + ram.p_filesz + 4096, 8), std::string(8, '\0'));
}

TEST_F(CoreViewTest, KcoreWithoutRoomForTheAliasSaysHowToLoadSymbols) {
  auto snap = std::make_shared<backends::Snapshot>(*snap_);
  snap->facts.kaslr_offset = 0x200000;  // a 4 MiB image moved by 2 MiB overlaps itself
  snap->facts.image.size = 4 << 20;
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto v, CoreView::Build("kcore", snap));
  ParsedView p(*v);
  EXPECT_EQ(p.phnum(), 3u);  // note, image, RAM: no alias
  ASSERT_EQ(v->warnings().size(), 1u);
  EXPECT_NE(v->warnings()[0].find("symbol-file -o 0x200000 vmlinux"), std::string::npos)
      << v->warnings()[0];
}

// The pieces of a range cover it exactly, in order, cut at the end of the file, and read
// (source bytes or zeros) to what ReadAt gives: across the header, a gap and data.
TEST_F(CoreViewTest, PiecesCoverARangeAsReadAtReadsIt) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto v, CoreView::Build("kcore", snap_));
  ParsedView p(*v);
  GElf_Phdr ram = p.phdr(3);
  const uint64_t header_end = v->header().size();
  for (auto [off, len] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, header_end + 8192}, {header_end - 10, 20}, {ram.p_offset - 100, 300},
           {ram.p_offset + ram.p_filesz - 50, 5000}, {v->size() - 10, 100}, {v->size(), 10}}) {
    std::string assembled;
    std::vector<Piece> pieces;
    KCOREFS_ASSERT_OK(v->ForEachPiece(off, len, [&](const Piece& piece) {
      pieces.push_back(piece);
      std::string bytes(piece.length, '\0');
      if (piece.source != nullptr) {
        KCOREFS_RETURN_IF_ERROR(piece.source->ReadAt(
            piece.source_offset, absl::MakeSpan(reinterpret_cast<uint8_t*>(bytes.data()), bytes.size())));
      }
      assembled += bytes;
      return absl::OkStatus();
    }));
    EXPECT_EQ(assembled.size(), v->Clip(off, len)) << off;
    EXPECT_EQ(assembled, Read(*v, off, len)) << off;
    for (const Piece& piece : pieces) EXPECT_GT(piece.length, 0u) << off;
  }
  // The header is memory; data comes from the dump file's fd.
  std::vector<Piece> first;
  KCOREFS_ASSERT_OK(v->ForEachPiece(0, ram.p_offset + 1, [&](const Piece& piece) {
    first.push_back(piece);
    return absl::OkStatus();
  }));
  ASSERT_GE(first.size(), 2u);
  EXPECT_EQ(first.front().source->memory().size(), header_end);
  EXPECT_TRUE(first.back().source->fd().has_value());
  EXPECT_TRUE(first.back().source->memory().empty());
}

TEST_F(CoreViewTest, ForEachPieceStopsAtTheFirstError) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto v, CoreView::Build("vmcore", snap_));
  int calls = 0;
  absl::Status s = v->ForEachPiece(0, v->size(), [&](const Piece&) {
    ++calls;
    return absl::DataLossError("stop");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(calls, 1);
}

TEST_F(CoreViewTest, VmcoreinfoViewIsTheServedText) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto v, CoreView::Build("vmcoreinfo", snap_));
  std::string text = Read(*v, 0, v->size());
  EXPECT_EQ(text, snap_->facts.vmcoreinfo.text());
  EXPECT_EQ(Read(*v, v->size(), 10), "");
}

TEST_F(CoreViewTest, ManySegmentsUseExtendedNumbering) {
  auto zero = std::make_shared<io::BufferByteSource>("z", std::string(4096, 'z'));
  std::vector<mem::Segment> segs;
  for (uint64_t i = 0; i < 70000; ++i) segs.push_back({0x100000000ull + i * 8192, 4096, 4096, zero, 0});
  segs.push_back({TestKernel::kRamStart, TestKernel::kRamSize, 0, nullptr, 0});
  auto map = mem::MemoryMap::Create(std::move(segs), {});
  ASSERT_TRUE(map.ok());
  auto snap = std::make_shared<backends::Snapshot>(*snap_);
  snap->map = *map;
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto v, CoreView::Build("vmcore", snap));
  ParsedView p(*v);
  EXPECT_EQ(p.ehdr().e_phnum, PN_XNUM);
  EXPECT_EQ(p.phnum(), 70003u);
  GElf_Phdr last = p.phdr(70002);
  EXPECT_EQ(last.p_paddr, 0x100000000ull + 69999 * 8192);
  EXPECT_EQ(Read(*v, last.p_offset, 4), "zzzz");
}

}  // namespace
}  // namespace kcorefs::elf
