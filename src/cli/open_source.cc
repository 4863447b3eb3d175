#include "absl/strings/str_cat.h"
#include "backends/common/snapshot_builder.h"
#include "cli/commands.h"
#include "kcorefs/base/errors.h"

namespace kcorefs::cli {

absl::StatusOr<std::unique_ptr<backends::Backend>> OpenSource(
    const std::string& source, const std::optional<std::string>& vmcoreinfo_file) {
  backends::BackendOptions options;
  if (vmcoreinfo_file.has_value()) {
    auto text = backends::ReadSmallFile(*vmcoreinfo_file, 1 << 16);
    if (!text.ok()) return base::Annotate(text.status(), "--vmcoreinfo");
    options.derive.vmcoreinfo_override = std::move(*text);
    options.derive.vmcoreinfo_override_name = *vmcoreinfo_file;
  }
  return backends::OpenBackend(source, options);
}

}  // namespace kcorefs::cli
