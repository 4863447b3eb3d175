// Reads a whole small text file (/proc/iomem, /sys/kernel/vmcoreinfo, --vmcoreinfo FILE,
// a mount's stats file), refusing one larger than `limit`.
#ifndef KCOREFS_IO_SMALL_FILE_H_
#define KCOREFS_IO_SMALL_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace kcorefs::io {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t limit = 1 << 20);

}  // namespace kcorefs::io

#endif  // KCOREFS_IO_SMALL_FILE_H_
