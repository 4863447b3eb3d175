#include "elf/prstatus.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "kcorefs/backends/backend.h"
#include "kcorefs/elf/core_view.h"
#include "kcorefs/kernel/vmcoreinfo.h"
#include "tests/testing/core_builder.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::elf {
namespace {

using kernel::ArchX86_64;
using kernel::CpuState;

// An x86_64 struct elf_prstatus as kdump's crash_save_cpu() writes it: pr_pid and pr_reg,
// the rest zero.
std::string KdumpPrstatus(int32_t pid, uint64_t seed) {
  std::string d(336, '\0');
  std::memcpy(&d[32], &pid, 4);
  for (uint64_t i = 0; i < 27; ++i) {
    uint64_t r = (seed + i) * 0x9e3779b97f4a7c15ull;
    std::memcpy(&d[112 + 8 * i], &r, 8);
  }
  return d;
}

TEST(PrstatusTest, DecodeThenEncodeIsByteForByte) {
  std::string in = KdumpPrstatus(1234, 7);
  KCOREFS_ASSERT_OK_AND_ASSIGN(CpuState s, kernel::DecodePrstatus(ArchX86_64(), in, 0));
  KCOREFS_ASSERT_OK_AND_ASSIGN(std::string out, EncodePrstatus(ArchX86_64(), s));
  EXPECT_EQ(out, in);
}

TEST(PrstatusTest, EncodesPidAt32AndTwentySevenRegistersAt112) {
  CpuState s{5, 0x01020304, {}};
  for (uint64_t i = 0; i < 27; ++i) s.regs.push_back(0x1111111111111111ull * (i % 15 + 1));
  KCOREFS_ASSERT_OK_AND_ASSIGN(std::string out, EncodePrstatus(ArchX86_64(), s));
  ASSERT_EQ(out.size(), 336u);
  int32_t pid;
  std::memcpy(&pid, &out[32], 4);
  EXPECT_EQ(pid, 0x01020304);
  uint64_t first, last;
  std::memcpy(&first, &out[112], 8);
  std::memcpy(&last, &out[112 + 26 * 8], 8);
  EXPECT_EQ(first, s.regs[0]);
  EXPECT_EQ(last, s.regs[26]);
  // Everything else (pr_info, pr_ppid, times, pr_fpvalid) is zero, as kdump leaves it.
  EXPECT_EQ(out.substr(0, 32), std::string(32, '\0'));
  EXPECT_EQ(out.substr(36, 112 - 36), std::string(112 - 36, '\0'));
  EXPECT_EQ(out.substr(112 + 27 * 8), std::string(336 - 112 - 27 * 8, '\0'));
}

TEST(PrstatusTest, AWrongRegisterCountIsRefused) {
  CpuState s{1, 1, std::vector<uint64_t>(26, 1)};
  auto out = EncodePrstatus(ArchX86_64(), s);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("27"), absl::string_view::npos);
}

// The NT_PRSTATUS descriptors of the view's PT_NOTE.
std::vector<std::string> ViewPrstatus(const CoreView& v) {
  const std::string& h = v.header();
  Elf64_Ehdr eh;
  std::memcpy(&eh, h.data(), sizeof(eh));
  Elf64_Phdr note;
  std::memcpy(&note, h.data() + eh.e_phoff, sizeof(note));
  EXPECT_EQ(note.p_type, PT_NOTE);
  auto notes = kernel::ParseNotes(absl::string_view(h).substr(note.p_offset, note.p_filesz));
  EXPECT_TRUE(notes.ok());
  std::vector<std::string> out;
  for (const kernel::Note& n : *notes) {
    if (n.name == "CORE" && n.type == NT_PRSTATUS) out.push_back(n.desc);
  }
  EXPECT_EQ(notes->back().name, "VMCOREINFO");
  return out;
}

// A kdump core's per-CPU notes reach both views unchanged, in CPU order; the all-zero set
// of a CPU without saved registers does not.
TEST(PrstatusTest, AnInputCoresNotesRoundTripToTheViews) {
  testing::CoreBuilder c = testing::TestKernel::Kdump();
  std::string cpu0 = KdumpPrstatus(100, 1), cpu2 = KdumpPrstatus(0, 3);
  c.notes = testing::Note("CORE", NT_PRSTATUS, cpu0) +
            testing::Note("CORE", NT_PRSTATUS, std::string(336, '\0')) +
            testing::Note("CORE", NT_PRSTATUS, cpu2) + c.notes;
  char tmpl[] = "/tmp/kcorefs-prstatus-XXXXXX";
  ASSERT_NE(mkstemp(tmpl), -1);
  c.WriteTo(tmpl);
  auto b = backends::OpenBackend(tmpl, {});
  unlink(tmpl);
  ASSERT_TRUE(b.ok()) << b.status();
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto snap, (*b)->Current());
  ASSERT_EQ(snap->facts.cpus.size(), 2u);
  EXPECT_EQ(snap->facts.cpus[0].cpu, 0);
  EXPECT_EQ(snap->facts.cpus[0].pid, 100);
  EXPECT_EQ(snap->facts.cpus[1].cpu, 2);
  for (const char* view : {"vmcore", "kcore"}) {
    KCOREFS_ASSERT_OK_AND_ASSIGN(auto v, CoreView::Build(view, snap));
    std::vector<std::string> got = ViewPrstatus(*v);
    ASSERT_EQ(got.size(), 2u) << view;
    EXPECT_EQ(got[0], cpu0) << view;
    EXPECT_EQ(got[1], cpu2) << view;
  }
}

}  // namespace
}  // namespace kcorefs::elf
