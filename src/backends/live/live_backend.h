// live: the running kernel. /proc/kcore (ELF, re-read when its size changes: memory
// hotplug) or a physical-memory device (/dev/crash, /dev/mem) whose RAM ranges come from
// /proc/iomem and whose VMCOREINFO comes from /sys/kernel/vmcoreinfo.
#ifndef KCOREFS_BACKENDS_LIVE_LIVE_BACKEND_H_
#define KCOREFS_BACKENDS_LIVE_LIVE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "kcorefs/backends/backend.h"

namespace kcorefs::backends {

// SOURCE: "live" (this machine's /proc/kcore), an ELF kcore path, /dev/crash or /dev/mem.
absl::StatusOr<std::unique_ptr<Backend>> OpenLiveBackend(const std::string& source,
                                                         const BackendConfig& config);

// "System RAM" ranges (top-level lines) of /proc/iomem text, as [first, last] inclusive.
struct IomemRange {
  uint64_t first;
  uint64_t last;
};
absl::StatusOr<std::vector<IomemRange>> ParseIomemSystemRam(absl::string_view text);

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_LIVE_LIVE_BACKEND_H_
