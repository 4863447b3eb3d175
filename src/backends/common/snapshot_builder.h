// Shared last step of every backend: derive kernel facts from a map and hints, and wrap
// the result as a Snapshot with the source's warnings.
#ifndef KCOREFS_BACKENDS_COMMON_SNAPSHOT_BUILDER_H_
#define KCOREFS_BACKENDS_COMMON_SNAPSHOT_BUILDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kcorefs/backends/snapshot.h"

namespace kcorefs::backends {

struct SnapshotParts {
  mem::MemoryMap map;
  kernel::KernelHints hints;
  std::vector<std::string> warnings;
  std::string format;
  uint64_t epoch = 1;
  int64_t mtime = 0;
};

absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(const std::string& source,
                                                              SnapshotParts parts,
                                                              const kernel::DeriveOptions& derive);

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_COMMON_SNAPSHOT_BUILDER_H_
