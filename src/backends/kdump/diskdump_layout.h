// What kcorefs reads of a kdump-compressed (diskdump) file's own layout (makedumpfile's
// format: the header block, the sub-header blocks, the two page bitmaps, one 24-byte page
// descriptor per dumpable page, then the page data), beside libkdumpfile: what `kcorefs
// info` says of the dump, and the pages whose bytes lie past the file's end (a copy cut
// short). libkdumpfile reads such a page as whatever its descriptor's offset gives
// (often "unknown compression method"), so kcorefs finds them itself, from the dump's own
// layout (makedumpfile's format: the header block, the sub-header blocks, the two page
// bitmaps, one 24-byte page descriptor per dumpable page, then the page data), and leaves
// them out of the views with a warning that says the file is truncated.
#ifndef KCOREFS_BACKENDS_KDUMP_DISKDUMP_LAYOUT_H_
#define KCOREFS_BACKENDS_KDUMP_DISKDUMP_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::backends::kdump {

// The header's account of the dump, for `kcorefs info`.
struct DiskdumpSummary {
  std::string compression;  // "zlib", "lzo", "snappy", "zstd", "none"; "+incomplete"
  int dump_level = -1;      // makedumpfile -d (the sub-header's), -1: not recorded
  uint64_t pages = 0;       // page frames the bitmaps cover (max_mapnr)
  uint64_t dumped = 0;      // pages the dumpable bitmap holds
};
// nullopt for a file kcorefs cannot follow (libkdumpfile then says what is wrong).
absl::StatusOr<std::optional<DiskdumpSummary>> ReadDiskdumpSummary(const io::ByteSource& file);

struct Truncation {
  uint64_t needed = 0;  // bytes the descriptors reference (the end of the furthest page)
  uint64_t have = 0;    // the file's size
  // Runs [first, last) of page frame numbers whose descriptor or data is past the end.
  std::vector<std::pair<uint64_t, uint64_t>> missing;
  uint64_t missing_pages = 0;
};

// Descriptor tables up to this size are read whole at open; past it only the last
// descriptor is checked (a dump's page data is written in page order, so the last page's
// data is the file's end unless that page is a zero page).
inline constexpr uint64_t kFullScanBytes = 64 << 20;

// nullopt when every page's bytes are in the file, or the file is not a diskdump whose
// header kcorefs can follow (libkdumpfile then says what is wrong). The work is bounded by
// the file: the bitmap and descriptors read are in it.
// `summary` is ReadDiskdumpSummary's for the same file (its count of dumped pages).
absl::StatusOr<std::optional<Truncation>> FindTruncation(const io::ByteSource& file,
                                                        const DiskdumpSummary& summary);

}  // namespace kcorefs::backends::kdump

#endif  // KCOREFS_BACKENDS_KDUMP_DISKDUMP_LAYOUT_H_
