// Backend: turns a SOURCE into snapshots (memory map + kernel facts). Every backend yields
// the same Snapshot; backends never produce ELF bytes and never see FUSE.
//
// A backend lives in src/backends/NAME/ with its own meson.build, registers a
// BackendFactory with KCOREFS_REGISTER_BACKEND, and is documented in
// docs/backends/kcorefs-NAME-backend.7.md. docs/backend-api.md is the contract in full.
#ifndef KCOREFS_BACKENDS_BACKEND_H_
#define KCOREFS_BACKENDS_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kcorefs/backends/config.h"
#include "kcorefs/backends/snapshot.h"

namespace kcorefs::backends {

// Parallel: any number of threads may read the backend's sources at once. Serialized:
// the front ends make one call at a time (a GDB stub answers one packet at a time).
enum class ThreadModel { kParallel, kSerialized };

struct Capabilities {
  // The bytes change under the reader (a live kernel, a running VM): no page cache
  // (direct_io), short attribute timeouts.
  bool bytes_volatile = false;
  // The map may change (memory hotplug, a kmemdump directory gaining a region): Current()
  // may return a new epoch. Immutable bytes may still use the page cache; it is
  // invalidated when the epoch changes.
  bool map_volatile = false;
  ThreadModel threads = ThreadModel::kParallel;
  // Every data extent comes from a ByteSource with fd(): the FUSE edge may splice.
  bool fd_backed = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The registry name ("dumpfile", "live").
  virtual absl::string_view name() const = 0;
  // What the user passed, for messages.
  virtual const std::string& source() const = 0;
  virtual Capabilities capabilities() const = 0;
  // The current snapshot. A map-volatile source re-reads its layout when it changed.
  // Thread-safe.
  virtual absl::StatusOr<std::shared_ptr<const Snapshot>> Current() = 0;
  // Bytes read from the underlying source since start.
  virtual uint64_t bytes_read() const = 0;
  // Lifecycle. Open() (the factory) may read the source but starts no threads; Start() is
  // called in the process that serves, after the daemon has forked, and may start them;
  // Close() is called once on unmount, before destruction, and must not block forever.
  virtual absl::Status Start() { return absl::OkStatus(); }
  virtual void Close() {}
  // Extra "key value" lines for the mount's stats file (cache hits, reconnects).
  virtual std::vector<std::pair<std::string, std::string>> Stats() const { return {}; }

  bool live() const { return capabilities().bytes_volatile; }
};

// What the registry knows about a SOURCE before any backend opens it.
struct ProbeInput {
  enum class Kind { kNone, kRegular, kDirectory, kCharDevice, kBlockDevice, kFifo, kSocket, kOther };
  std::string source;   // the whole string the user gave
  std::string scheme;   // "nbd" for "nbd://…", "nbd+unix" for "nbd+unix:///…"; else ""
  Kind kind = Kind::kNone;  // what stat() says of `source` as a path (kNone: not a path)
  std::string magic;    // the first bytes (up to 4 KiB) of a regular file or block device
};

class BackendFactory {
 public:
  virtual ~BackendFactory() = default;
  virtual absl::string_view name() const = 0;
  virtual absl::string_view summary() const = 0;
  virtual std::vector<ConfigKey> keys() const { return {}; }
  // How sure the backend is that `in` is its source: 0 not at all; 10 by kind (a
  // directory); 50 by magic; 100 by URI scheme or exact name. The highest claim wins.
  virtual int Probe(const ProbeInput& in) const = 0;
  // Opens `source` (the whole SOURCE string, or REST of an explicit "NAME:REST").
  // `config` has passed Check() against keys().
  virtual absl::StatusOr<std::unique_ptr<Backend>> Open(const std::string& source,
                                                        const BackendConfig& config) const = 0;
};

// Called by KCOREFS_REGISTER_BACKEND at static initialisation.
bool RegisterBackend(std::unique_ptr<BackendFactory> factory);
// Every registered backend, sorted by name.
std::vector<const BackendFactory*> Backends();
const BackendFactory* FindBackend(absl::string_view name);

// Opens SOURCE with the backend that claims it (design.md §2): a URI scheme a backend
// claims; an explicit "NAME:REST"; otherwise the highest Probe(). An unknown NAME says
// "unknown backend NAME; known: …"; a source nobody claims says what it was recognised as.
absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(const std::string& source,
                                                     const BackendConfig& config);

// The routing step of OpenBackend alone: which factory, and the string it gets. Lets a
// command check options (BackendConfig::Check) before it forks or mounts.
struct ResolvedSource {
  const BackendFactory* factory;
  std::string source;
};
absl::StatusOr<ResolvedSource> ResolveBackend(const std::string& source);

// What a source no backend claims looks like, for that message: "kdump-compressed
// (diskdump) file", "makedumpfile flattened file", "LiME memory image", "directory", ...
std::string DescribeSource(const ProbeInput& in);
ProbeInput MakeProbeInput(const std::string& source);

}  // namespace kcorefs::backends

// Registers FACTORY_CLASS (default-constructible) with the registry. Use once, at
// namespace scope, in the backend's own .cc file; the backend library is linked whole so
// the registration is never dropped by the linker.
#define KCOREFS_REGISTER_BACKEND(FACTORY_CLASS)                                   \
  [[maybe_unused]] static const bool kcorefs_registered_##FACTORY_CLASS =          \
      ::kcorefs::backends::RegisterBackend(std::make_unique<FACTORY_CLASS>())

#endif  // KCOREFS_BACKENDS_BACKEND_H_
