// The kcorefs subcommands. Each returns the process exit code.
#ifndef KCOREFS_CLI_COMMANDS_H_
#define KCOREFS_CLI_COMMANDS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kcorefs/backends/backend.h"

namespace kcorefs::cli {

int MountCommand(int argc, char** argv);
int ExportCommand(int argc, char** argv);
int InfoCommand(int argc, char** argv);

// Opens SOURCE, reading `--vmcoreinfo FILE` into the options first.
absl::StatusOr<std::unique_ptr<backends::Backend>> OpenSource(
    const std::string& source, const std::optional<std::string>& vmcoreinfo_file);

}  // namespace kcorefs::cli

#endif  // KCOREFS_CLI_COMMANDS_H_
