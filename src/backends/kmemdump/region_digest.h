// The sha256 a kcorefs-regions.json manifest records for a region file, checked before the
// file's bytes are served (docs/backends/kcorefs-kmemdump-backend.7.md, "MANIFEST").
#ifndef KCOREFS_BACKENDS_KMEMDUMP_REGION_DIGEST_H_
#define KCOREFS_BACKENDS_KMEMDUMP_REGION_DIGEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::backends::kmemdump {

// The SHA-256 of all of `src`'s bytes, as 64 lowercase hex digits. Reads it in 1 MiB pieces.
absl::StatusOr<std::string> Sha256Hex(const io::ByteSource& src);

}  // namespace kcorefs::backends::kmemdump

#endif  // KCOREFS_BACKENDS_KMEMDUMP_REGION_DIGEST_H_
