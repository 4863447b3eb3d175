#include "backends/live/live_backend.h"

#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace kcorefs::backends {
namespace {

TEST(IomemTest, TakesTopLevelSystemRamOnly) {
  const char* text =
      "00000000-00000fff : Reserved\n"
      "00001000-0009fbff : System RAM\n"
      "00100000-1ffdffff : System RAM\n"
      "  01000000-01e02a96 : Kernel code\n"
      "  02000000-0238ffff : System RAM\n"
      "fd000000-fdffffff : PCI Bus 0000:00\n";
  KCOREFS_ASSERT_OK_AND_ASSIGN(auto r, ParseIomemSystemRam(text));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].first, 0x1000u);
  EXPECT_EQ(r[0].last, 0x9fbffu);
  EXPECT_EQ(r[1].last, 0x1ffdffffu);
}

TEST(IomemTest, ZeroedAddressesMeanNotRoot) {
  auto r = ParseIomemSystemRam("00000000-00000000 : System RAM\n");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(IomemTest, GarbageIsAnErrorNamingTheLine) {
  auto r = ParseIomemSystemRam("zz-yy : System RAM\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("zz-yy"), absl::string_view::npos);
}

}  // namespace
}  // namespace kcorefs::backends
