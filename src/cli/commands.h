// The kcorefs subcommands. Each returns the process exit code.
#ifndef KCOREFS_CLI_COMMANDS_H_
#define KCOREFS_CLI_COMMANDS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kcorefs/backends/backend.h"

namespace kcorefs::cli {

int MountCommand(int argc, char** argv);
// mount(8)'s helper protocol (mount.kcorefs, mount.fuse.kcorefs).
int MountHelper(int argc, char** argv);
// The privileged half of an unprivileged mount (fd passing).
int PremountCommand(int argc, char** argv);
int ExportCommand(int argc, char** argv);
int InfoCommand(int argc, char** argv);
int BackendsCommand(int argc, char** argv);

// What every command takes to open a source: --vmcoreinfo FILE and backend options
// (mount -o keys it does not know itself, or -O KEY=VALUE,...).
struct SourceOptions {
  std::optional<std::string> vmcoreinfo_file;
  // --vmlinux PATH / -o vmlinux=PATH, made absolute (the mount daemon changes directory);
  // "" means none at all. Unset: Debian's /usr/lib/debug/boot/vmlinux-OSRELEASE if any.
  std::optional<std::string> vmlinux_file;
  backends::BackendConfig config;
  // -o redact=user: user and free pages served as holes (backends/redact.h).
  bool redact_user = false;
};

// Sets options.vmlinux_file from a --vmlinux argument: an existing file, made absolute,
// or "" for none. Fails naming the path.
absl::Status SetVmlinuxOption(absl::string_view path, SourceOptions& options);
// Parses a -o/-O list: vmlinux=PATH is the derivation's, redact=user the redaction's, the
// rest the backend's.
absl::Status ParseSourceOptionList(absl::string_view list, SourceOptions& options);

// Opens SOURCE, reading `--vmcoreinfo FILE` into the config first.
absl::StatusOr<std::unique_ptr<backends::Backend>> OpenSource(const std::string& source,
                                                              SourceOptions options);

// One line per backend with its keys, for --help and `kcorefs backends`.
std::string BackendsText(bool with_keys);

}  // namespace kcorefs::cli

#endif  // KCOREFS_CLI_COMMANDS_H_
