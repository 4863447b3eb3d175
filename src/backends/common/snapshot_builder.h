// Shared last step of every backend: derive kernel facts from a map and hints, and wrap
// the result as a Snapshot with the source's warnings.
#ifndef KCOREFS_BACKENDS_COMMON_SNAPSHOT_BUILDER_H_
#define KCOREFS_BACKENDS_COMMON_SNAPSHOT_BUILDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kcorefs/backends/backend.h"

namespace kcorefs::backends {

absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(
    const std::string& source, mem::MemoryMap map, const kernel::KernelHints& hints,
    std::vector<std::string> warnings, const BackendOptions& options, uint64_t epoch,
    int64_t mtime);

// Reads a whole small text file (/proc/iomem, /sys/kernel/vmcoreinfo, --vmcoreinfo FILE).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t limit = 1 << 20);

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_COMMON_SNAPSHOT_BUILDER_H_
