#include "kcorefs/kernel/vmcoreinfo.h"

#include "kcorefs/kernel/arch.h"

#include <gtest/gtest.h>

#include "tests/testing/core_builder.h"
#include "tests/testing/status_matchers.h"

namespace kcorefs::kernel {
namespace {

TEST(VmcoreinfoTest, ParsesKeysAndKeepsTextWithFinalNewline) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(Vmcoreinfo v,
                               Vmcoreinfo::Parse("OSRELEASE=6.1.0\nNUMBER(phys_base)=-4096\nKERNELOFFSET=1e000000"));
  EXPECT_EQ(v.Get("OSRELEASE"), "6.1.0");
  EXPECT_EQ(v.GetDecimal("NUMBER(phys_base)"), -4096);
  EXPECT_EQ(v.GetHex("KERNELOFFSET"), 0x1e000000u);
  EXPECT_EQ(v.text().back(), '\n');
}

TEST(VmcoreinfoTest, StopsAtNulPadding) {
  std::string t("OSRELEASE=6.1\n\0\0garbage", 24);
  KCOREFS_ASSERT_OK_AND_ASSIGN(Vmcoreinfo v, Vmcoreinfo::Parse(t));
  EXPECT_EQ(v.text(), "OSRELEASE=6.1\n");
}

TEST(VmcoreinfoTest, RejectsBinaryAndMalformedLines) {
  EXPECT_FALSE(Vmcoreinfo::Parse("OSRELEASE=6.1\n\x01\x02\n").ok());
  auto s = Vmcoreinfo::Parse("OSRELEASE=6.1\nnot a pair\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("line 2"), absl::string_view::npos);
  EXPECT_FALSE(Vmcoreinfo::Parse("").ok());
}

TEST(VmcoreinfoTest, ReportsMissingRequiredKeys) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(Vmcoreinfo v, Vmcoreinfo::Parse("OSRELEASE=6.1\nPAGESIZE=4096\n"));
  auto missing = v.Missing(ArchX86_64().required_vmcoreinfo_keys);
  EXPECT_NE(std::find(missing.begin(), missing.end(), "SYMBOL(init_top_pgt)"), missing.end());
  EXPECT_EQ(std::find(missing.begin(), missing.end(), "OSRELEASE"), missing.end());
}

TEST(VmcoreinfoTest, AppendIfMissingAddsOnce) {
  KCOREFS_ASSERT_OK_AND_ASSIGN(Vmcoreinfo v, Vmcoreinfo::Parse("OSRELEASE=6.1\n"));
  v.AppendIfMissing("NUMBER(page_offset_base)", "-1");
  v.AppendIfMissing("NUMBER(page_offset_base)", "-2");
  EXPECT_EQ(v.text(), "OSRELEASE=6.1\nNUMBER(page_offset_base)=-1\n");
}

TEST(NotesTest, SerializeThenParseRoundTrips) {
  std::vector<Note> in = {{"CORE", 1, std::string(336, 'r')}, {"VMCOREINFO", 0, "OSRELEASE=x\n"}};
  std::string bytes = SerializeNotes(in);
  EXPECT_EQ(bytes.size() % 4, 0u);
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto out, ParseNotes(bytes));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].name, "VMCOREINFO");
  EXPECT_EQ(out[1].desc, "OSRELEASE=x\n");
  // namesz includes the NUL: 11 for VMCOREINFO, which drgn requires exactly.
  uint32_t namesz;
  std::memcpy(&namesz, bytes.data() + 12 + 8 + 336, 4);
  EXPECT_EQ(namesz, 11u);
}

TEST(NotesTest, NoteRunningPastTheSegmentIsAnErrorWithItsOffset) {
  std::string bytes = testing::Note("CORE", 1, "abcd");
  bytes[4] = 100;  // descsz far past the end
  auto out = ParseNotes(bytes);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("offset 0"), absl::string_view::npos);
}

}  // namespace
}  // namespace kcorefs::kernel
