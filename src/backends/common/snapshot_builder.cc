#include "backends/common/snapshot_builder.h"

#include "kcorefs/base/errors.h"

namespace kcorefs::backends {

absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(const std::string& source,
                                                              SnapshotParts parts,
                                                              const kernel::DeriveOptions& derive) {
  auto facts = kernel::DeriveKernelFacts(parts.map, parts.hints, derive);
  if (!facts.ok()) {
    // A cut file is said to be cut first: what failed after follows from it.
    absl::Status failed = base::Annotate(facts.status(), source);
    if (parts.hints.truncation.has_value()) {
      failed = base::Annotate(failed, parts.hints.truncation->Headline());
    }
    return failed;
  }
  auto snap = std::make_shared<Snapshot>();
  snap->epoch = parts.epoch;
  snap->mtime = parts.mtime;
  snap->map = std::move(parts.map);
  snap->facts = std::move(*facts);
  snap->format = std::move(parts.format);
  snap->warnings = std::move(parts.warnings);
  for (const std::string& w : snap->facts.warnings) snap->warnings.push_back(w);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace kcorefs::backends
