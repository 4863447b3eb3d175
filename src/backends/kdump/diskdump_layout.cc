#include "backends/kdump/diskdump_layout.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/types/span.h"
#include "kcorefs/base/byte_order.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::backends::kdump {
namespace {

// disk_dump_header fields (x86_64 layout: utsname is 6 * 65 bytes, then an 8-aligned
// struct timeval).
constexpr uint64_t kHeaderVersion = 8;
constexpr uint64_t kStatus = 424;
constexpr uint64_t kBlockSize = 428;
constexpr uint64_t kSubHdrSize = 432;
constexpr uint64_t kBitmapBlocks = 436;
constexpr uint64_t kMaxMapnr = 440;
// kdump_sub_header (version 6 and later): max_mapnr_64.
constexpr uint64_t kSubDumpLevel = 8;
constexpr uint64_t kSubMaxMapnr64 = 96;
constexpr uint64_t kDescSize = 24;  // page_desc: offset, size, flags, page_flags

struct Layout {
  uint64_t block = 0, bitmap_off = 0, bitmap_bytes = 0, desc_off = 0, pages = 0;
  uint32_t status = 0;
  int dump_level = -1;
};

// disk_dump_header.status: DUMP_DH_COMPRESSED_* bits.
std::string CompressionName(uint32_t status) {
  std::string out = status & 0x1 ? "zlib" : status & 0x2 ? "lzo" : status & 0x4 ? "snappy"
                                          : status & 0x20 ? "zstd" : "none";
  if (status & 0x8) out += " (incomplete: makedumpfile stopped before the end)";
  return out;
}

absl::StatusOr<std::optional<Layout>> ReadLayout(const io::ByteSource& file) {
  uint8_t h[448];
  if (file.size() < sizeof h) return std::nullopt;
  KCOREFS_RETURN_IF_ERROR(file.ReadAt(0, absl::MakeSpan(h, sizeof h)));
  if (std::memcmp(h, "KDUMP   ", 8) != 0) return std::nullopt;
  Layout l;
  l.status = base::LoadLe32(h + kStatus);
  const uint32_t version = base::LoadLe32(h + kHeaderVersion);
  l.block = base::LoadLe32(h + kBlockSize);
  const uint64_t sub = base::LoadLe32(h + kSubHdrSize), bitmap_blocks = base::LoadLe32(h + kBitmapBlocks);
  uint64_t mapnr = base::LoadLe32(h + kMaxMapnr);
  if (l.block < 512 || l.block > (1 << 20) || bitmap_blocks == 0 || bitmap_blocks % 2 != 0) {
    return std::nullopt;
  }
  if (sub > 0 && base::RangeWithin(l.block + kSubDumpLevel, 4, file.size())) {
    uint8_t v[4];
    KCOREFS_RETURN_IF_ERROR(file.ReadAt(l.block + kSubDumpLevel, absl::MakeSpan(v, 4)));
    l.dump_level = static_cast<int>(base::LoadLe32(v));
  }
  if (version >= 6 && sub > 0 && base::RangeWithin(l.block + kSubMaxMapnr64, 8, file.size())) {
    uint8_t m[8];
    KCOREFS_RETURN_IF_ERROR(file.ReadAt(l.block + kSubMaxMapnr64, absl::MakeSpan(m, 8)));
    if (base::LoadLe64(m) != 0) mapnr = base::LoadLe64(m);
  }
  // The second bitmap (dumpable pages) is the second half of the bitmap blocks.
  l.bitmap_bytes = bitmap_blocks / 2 * l.block;
  l.bitmap_off = l.block * (1 + sub) + l.bitmap_bytes;
  l.desc_off = l.block * (1 + sub + bitmap_blocks);
  l.pages = std::min(mapnr, l.bitmap_bytes * 8);
  if (!base::RangeWithin(l.bitmap_off, l.bitmap_bytes, file.size())) return std::nullopt;
  return l;
}

// Calls fn(pfn, index) for every dumpable page, index counting them from 0.
template <typename Fn>
absl::Status ForEachDumpable(const io::ByteSource& file, const Layout& l, Fn fn) {
  std::vector<uint8_t> bits(std::min<uint64_t>(l.bitmap_bytes, 1 << 20));
  uint64_t index = 0;
  for (uint64_t at = 0; at * 8 < l.pages; at += bits.size()) {
    const uint64_t n = std::min<uint64_t>(bits.size(), l.bitmap_bytes - at);
    KCOREFS_RETURN_IF_ERROR(file.ReadAt(l.bitmap_off + at, absl::MakeSpan(bits.data(), n)));
    for (uint64_t i = 0; i < n; ++i) {
      for (uint8_t b = bits[i]; b != 0; b &= b - 1) {
        const uint64_t pfn = (at + i) * 8 + std::countr_zero(b);
        if (pfn >= l.pages) return absl::OkStatus();
        KCOREFS_RETURN_IF_ERROR(fn(pfn, index++));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<DiskdumpSummary>> ReadDiskdumpSummary(const io::ByteSource& file) {
  KCOREFS_ASSIGN_OR_RETURN(std::optional<Layout> layout, ReadLayout(file));
  if (!layout) return std::nullopt;
  DiskdumpSummary s{CompressionName(layout->status), layout->dump_level, layout->pages, 0};
  KCOREFS_RETURN_IF_ERROR(ForEachDumpable(file, *layout, [&](uint64_t, uint64_t) {
    ++s.dumped;
    return absl::OkStatus();
  }));
  return s;
}

absl::StatusOr<std::optional<Truncation>> FindTruncation(const io::ByteSource& file,
                                                        const DiskdumpSummary& summary) {
  KCOREFS_ASSIGN_OR_RETURN(std::optional<Layout> layout, ReadLayout(file));
  if (!layout) return std::nullopt;
  const Layout& l = *layout;
  const uint64_t size = file.size();
  const uint64_t count = summary.dumped;  // counted by ReadDiskdumpSummary's bitmap walk
  if (count == 0) return std::nullopt;
  // One descriptor, or nullopt when it is past the end.
  auto desc_end = [&](uint64_t i) -> absl::StatusOr<std::optional<uint64_t>> {
    const uint64_t at = l.desc_off + i * kDescSize;
    if (!base::RangeWithin(at, kDescSize, size)) return std::nullopt;
    uint8_t d[kDescSize];
    KCOREFS_RETURN_IF_ERROR(file.ReadAt(at, absl::MakeSpan(d, sizeof d)));
    const uint64_t off = base::LoadLe64(d), len = base::LoadLe32(d + 8);
    std::optional<uint64_t> end = base::CheckedAdd(off, len);
    return end.value_or(UINT64_MAX);
  };
  if (count * kDescSize > kFullScanBytes) {
    KCOREFS_ASSIGN_OR_RETURN(std::optional<uint64_t> last, desc_end(count - 1));
    if (last && *last <= size) return std::nullopt;
  }
  Truncation t;
  t.have = size;
  t.needed = std::max(size, l.desc_off + count * kDescSize);
  KCOREFS_RETURN_IF_ERROR(ForEachDumpable(file, l, [&](uint64_t pfn, uint64_t i) -> absl::Status {
    KCOREFS_ASSIGN_OR_RETURN(std::optional<uint64_t> end, desc_end(i));
    if (end && *end <= size) return absl::OkStatus();
    if (end) t.needed = std::max(t.needed, *end);
    ++t.missing_pages;
    if (!t.missing.empty() && t.missing.back().second == pfn) {
      t.missing.back().second = pfn + 1;
    } else {
      t.missing.push_back({pfn, pfn + 1});
    }
    return absl::OkStatus();
  }));
  if (t.missing_pages == 0) return std::nullopt;
  return t;
}

}  // namespace kcorefs::backends::kdump
