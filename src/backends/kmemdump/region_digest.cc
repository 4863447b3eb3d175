#include "backends/kmemdump/region_digest.h"

#include <nettle/sha2.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::backends::kmemdump {

absl::StatusOr<std::string> Sha256Hex(const io::ByteSource& src) {
  constexpr uint64_t kPiece = 1 << 20;
  sha256_ctx ctx;
  sha256_init(&ctx);
  std::vector<uint8_t> buf(std::min(src.size(), kPiece));
  for (uint64_t off = 0; off < src.size(); off += buf.size()) {
    const uint64_t n = std::min<uint64_t>(kPiece, src.size() - off);
    absl::Span<uint8_t> piece(buf.data(), n);
    // A region file is local: a piece that takes a minute is a stuck disk, not a slow one.
    KCOREFS_RETURN_IF_ERROR(src.ReadAt(off, piece, absl::Now() + absl::Minutes(1)));
    sha256_update(&ctx, n, piece.data());
  }
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, sizeof(digest), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

}  // namespace kcorefs::backends::kmemdump
