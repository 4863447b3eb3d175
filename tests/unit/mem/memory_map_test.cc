#include "kcorefs/mem/memory_map.h"

#include "kcorefs/base/errors.h"

#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace kcorefs::mem {
namespace {

std::shared_ptr<io::BufferByteSource> Bytes(const std::string& s) {
  return std::make_shared<io::BufferByteSource>("buf", s);
}

//   0x1000        0x1004   0x1008      0x2000   0x2004
//   [ "abcd" data | zeros ]            [ "wxyz" ]
MemoryMap TwoSegments() {
  auto a = Bytes("abcd");
  auto b = Bytes("wxyz");
  auto m = MemoryMap::Create({Segment{0x2000, 4, 4, b, 0}, Segment{0x1000, 8, 4, a, 0}}, {});
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

TEST(MemoryMapTest, SortsSegmentsByStart) {
  MemoryMap m = TwoSegments();
  ASSERT_EQ(m.physical().size(), 2u);
  EXPECT_EQ(m.physical()[0].start, 0x1000u);
  EXPECT_EQ(m.FindPhys(0x1007), 0);
  EXPECT_EQ(m.FindPhys(0x1008), -1);
  EXPECT_EQ(m.FindPhys(0x2003), 1);
}

TEST(MemoryMapTest, ReadServesDataThenZeroTail) {
  MemoryMap m = TwoSegments();
  uint8_t buf[8];
  KCOREFS_ASSERT_OK(m.ReadPhys(0x1002, absl::MakeSpan(buf, 6)));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 6), std::string("cd\0\0\0\0", 6));
}

TEST(MemoryMapTest, ReadOfAHoleIsAFaultAtTheFirstMissingByte) {
  MemoryMap m = TwoSegments();
  uint8_t buf[16];
  absl::Status s = m.ReadPhys(0x1004, absl::MakeSpan(buf, 16));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(base::FaultAddress(s), 0x1008u);
}

TEST(MemoryMapTest, OverlappingSegmentsAreRejectedWithBothRanges) {
  auto a = Bytes("abcdefgh");
  auto m = MemoryMap::Create({Segment{0x1000, 8, 8, a, 0}, Segment{0x1004, 8, 8, a, 0}}, {});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("0x1004"), absl::string_view::npos);
}

TEST(MemoryMapTest, WrappingAndOverfullSegmentsAreRejected) {
  EXPECT_FALSE(MemoryMap::Create({Segment{~0ull - 4, 8, 0, nullptr, 0}}, {}).ok());
  EXPECT_FALSE(MemoryMap::Create({Segment{0, 4, 8, nullptr, 0}}, {}).ok());
}

TEST(MemoryMapTest, ResolveSplitsAtSegmentEdges) {
  auto a = Bytes("abcdefgh");
  auto m = MemoryMap::Create({Segment{0, 4, 4, a, 0}, Segment{4, 4, 4, a, 4}}, {});
  ASSERT_TRUE(m.ok());
  std::vector<Piece> pieces;
  KCOREFS_ASSERT_OK(m->ResolvePhys(2, 4, [&](const Piece& p) { pieces.push_back(p); }));
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].length, 2u);
  EXPECT_EQ(pieces[0].source_offset, 2u);
  EXPECT_EQ(pieces[1].source_offset, 4u);
}

}  // namespace
}  // namespace kcorefs::mem
