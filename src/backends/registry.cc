// The backend registry: one row per backend, named as its directory, doc page
// (docs/backends/kcorefs-NAME-backend.7.md) and test prefix.
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backends/dumpfile/dumpfile_backend.h"
#include "backends/live/live_backend.h"
#include "kcorefs/backends/backend.h"

namespace kcorefs::backends {
namespace {

using OpenFn = std::function<absl::StatusOr<std::unique_ptr<Backend>>(const std::string&,
                                                                      const BackendOptions&)>;
struct Entry {
  BackendInfo info;
  OpenFn open;
};

const std::vector<Entry>& Registry() {
  static const auto* r = new std::vector<Entry>{
      {{"dumpfile", "an ELF kernel core file: kdump vmcore, /proc/kcore copy, QEMU ELF dump"},
       OpenDumpfileBackend},
      {{"live", "the running kernel: /proc/kcore, /dev/crash or /dev/mem"}, OpenLiveBackend},
  };
  return *r;
}

}  // namespace

std::vector<BackendInfo> ListBackends() {
  std::vector<BackendInfo> out;
  for (const Entry& e : Registry()) out.push_back(e.info);
  return out;
}

absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(const std::string& source,
                                                     const BackendOptions& options) {
  // Explicit "NAME:REST".
  for (const Entry& e : Registry()) {
    std::string prefix = absl::StrCat(e.info.name, ":");
    if (absl::StartsWith(source, prefix)) return e.open(source.substr(prefix.size()), options);
  }
  if (source == "live") return OpenLiveBackend("/proc/kcore", options);
  if (source == "/proc/kcore" || source == "/dev/mem" || source == "/dev/crash") {
    return OpenLiveBackend(source, options);
  }
  return OpenDumpfileBackend(source, options);
}

}  // namespace kcorefs::backends
