// Backend: turns a SOURCE into a memory map and kernel facts. Every backend yields the
// same Snapshot; backends never produce ELF bytes and never see FUSE.
#ifndef KCOREFS_BACKENDS_BACKEND_H_
#define KCOREFS_BACKENDS_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "kcorefs/io/byte_source.h"
#include "kcorefs/kernel/kernel_facts.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::backends {

// One consistent picture of the source. An open file pins the snapshot it was opened with.
struct Snapshot {
  uint64_t epoch = 0;   // bumped whenever the map changes (memory hotplug, regions)
  int64_t mtime = 0;    // seconds; when this epoch began (live) or the dump's mtime
  mem::MemoryMap map;
  kernel::KernelFacts facts;
  std::vector<std::string> warnings;  // the source's own (truncation, dropped notes)
};

struct BackendOptions {
  kernel::DeriveOptions derive;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The registry name ("dumpfile", "live").
  virtual absl::string_view name() const = 0;
  // What the user passed, for messages.
  virtual const std::string& source() const = 0;
  // Live sources change under the reader: served with direct_io, no page cache.
  virtual bool live() const = 0;
  // The current snapshot. A live source re-reads its layout when it changed. Thread-safe.
  virtual absl::StatusOr<std::shared_ptr<const Snapshot>> Current() = 0;
  // Bytes read from the underlying source since start.
  virtual uint64_t bytes_read() const = 0;
};

// Opens SOURCE with the backend its syntax names (design.md §2): "live" or /proc/kcore,
// /dev/crash and /dev/mem → live; a file path → dumpfile; "NAME:REST" picks backend NAME.
absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(const std::string& source,
                                                     const BackendOptions& options);

// Registry entries, for `kcorefs --help` and docs.
struct BackendInfo {
  absl::string_view name;
  absl::string_view summary;
};
std::vector<BackendInfo> ListBackends();

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_BACKEND_H_
