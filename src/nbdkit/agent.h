// The agent: one kcorefs view of one SOURCE, served by nbdkit (plugin.cc is the nbdkit
// edge). Everything here speaks absl::Status; only plugin.cc turns a status into
// nbdkit_error and an errno. The agent is glue over the core library: it opens SOURCE
// through the backend registry as the CLI does and serves elf::CoreView bytes.
#ifndef KCOREFS_NBDKIT_AGENT_H_
#define KCOREFS_NBDKIT_AGENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/backends/config.h"
#include "kcorefs/elf/core_view.h"

namespace kcorefs::nbdkit {

// The plugin's own keys; every other KEY=VALUE belongs to the backend.
struct AgentOptions {
  std::string source;                      // source= (required)
  std::string view = "vmcore";             // view=
  absl::Duration timeout = absl::Seconds(30);  // timeout=: each read's deadline
  std::optional<std::string> vmlinux;      // vmlinux=PATH ("" = none)
  std::optional<std::string> vmcoreinfo;   // vmcoreinfo=FILE
  bool allow_plain_tcp = false;            // allow_plain_tcp=1: serve TCP without TLS too
  bool redact_user = false;                // redact=user: user and free pages as holes
  backends::BackendConfig config;          // the backend's keys
};

// Takes one KEY=VALUE of the nbdkit command line into `options`.
absl::Status SetOption(absl::string_view key, absl::string_view value, AgentOptions& options);

// The text of `nbdkit kcorefs --help`: the plugin's keys and every backend's.
std::string HelpText();

// One connection's view: pinned to the epoch that was current when it connected, so its
// size and bytes stay consistent for its life.
class Connection {
 public:
  explicit Connection(std::shared_ptr<const elf::CoreView> view) : view_(std::move(view)) {}
  const elf::CoreView& view() const { return *view_; }
  uint64_t size() const { return view_->size(); }
  // Fills `out` from `offset`, or fails: a short read (past the end) is an error too, so
  // the caller never serves bytes it did not read.
  absl::Status Read(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const;
  // Calls fn(offset, length, hole) for the runs of [offset, offset + length): a hole is a
  // range no extent covers (it reads as zeros), e.g. the gaps of the kcore layout.
  absl::Status Extents(uint64_t offset, uint64_t length,
                       absl::FunctionRef<absl::Status(uint64_t, uint64_t, bool)> fn) const;

 private:
  std::shared_ptr<const elf::CoreView> view_;
};

class Agent {
 public:
  // Validates the options (backend keys against the factory's, the view name), opens the
  // backend and builds the view once, so a bad key, an unknown view or a corrupt dump fails
  // nbdkit's startup. Starts no threads (Backend::Open's contract).
  static absl::StatusOr<std::unique_ptr<Agent>> Open(AgentOptions options);

  // Starts the backend's threads: called in the serving process, after nbdkit's fork.
  absl::Status Start();
  void Close();

  // A connection on the current epoch (a live source's layout may have changed since the
  // last connection; the view is rebuilt only when the snapshot did).
  absl::StatusOr<std::unique_ptr<Connection>> Connect();

  const AgentOptions& options() const { return options_; }
  const backends::Backend& backend() const { return *backend_; }
  bool serialized() const {
    return backend_->capabilities().threads == backends::ThreadModel::kSerialized;
  }
  // "kcorefs VIEW of SOURCE (live|immutable)": the nbd backend reads the last word to
  // decide liveness, so the format is part of the interface.
  std::string Description() const;
  // The source's and the view's warnings from the first build (for the startup log).
  std::vector<std::string> Warnings() const;

 private:
  Agent() = default;
  AgentOptions options_;
  std::unique_ptr<backends::Backend> backend_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const elf::CoreView> view_ ABSL_GUARDED_BY(mu_);  // the latest epoch's
};

}  // namespace kcorefs::nbdkit

#endif  // KCOREFS_NBDKIT_AGENT_H_
