#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "kcorefs/backends/redact.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/io/small_file.h"

namespace kcorefs::cli {

absl::Status SetVmlinuxOption(absl::string_view path, SourceOptions& options) {
  if (path.empty()) {
    options.vmlinux_file = "";
    return absl::OkStatus();
  }
  std::string p(path);
  char real[PATH_MAX];
  if (::realpath(p.c_str(), real) == nullptr) {
    return base::ErrnoError(errno, absl::StrCat("--vmlinux ", p));
  }
  struct stat st;
  if (::stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("--vmlinux ", p, ": not a regular file"));
  }
  options.vmlinux_file = real;
  return absl::OkStatus();
}

absl::Status ParseSourceOptionList(absl::string_view list, SourceOptions& options) {
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&item, "vmlinux=")) {
      if (absl::Status s = SetVmlinuxOption(item, options); !s.ok()) return s;
    } else if (absl::ConsumePrefix(&item, "redact=")) {
      if (item != "user") {
        return absl::InvalidArgumentError(absl::StrCat(
            "redact=", item, ": unknown redaction; the one there is is redact=user"));
      }
      options.redact_user = true;
    } else if (absl::Status s = options.config.ParseList(item); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<backends::Backend>> OpenSource(const std::string& source,
                                                              SourceOptions options) {
  options.config.derive.vmlinux_path = options.vmlinux_file;
  if (options.vmcoreinfo_file.has_value()) {
    auto text = io::ReadSmallFile(*options.vmcoreinfo_file, 1 << 16);
    if (!text.ok()) return base::Annotate(text.status(), "--vmcoreinfo");
    options.config.derive.vmcoreinfo_override = std::move(*text);
    options.config.derive.vmcoreinfo_override_name = *options.vmcoreinfo_file;
  }
  auto backend = backends::OpenBackend(source, options.config);
  if (!backend.ok() || !options.redact_user) return backend;
  return backends::NewRedactingBackend(std::move(*backend));
}

std::string BackendsText(bool with_keys) {
  std::string out;
  for (const backends::BackendFactory* f : backends::Backends()) {
    absl::StrAppendFormat(&out, "  %-10s %s\n", std::string(f->name()), std::string(f->summary()));
    if (!with_keys) continue;
    for (const backends::ConfigKey& k : f->keys()) {
      std::string key = k.value.empty() ? std::string(k.name) : absl::StrCat(k.name, "=", k.value);
      absl::StrAppendFormat(&out, "      -o %-20s %s\n", key, std::string(k.help));
    }
  }
  return out;
}

int BackendsCommand(int argc, char** argv) {
  std::fputs("Backends in this build (SOURCE NAME:REST forces one; man kcorefs-NAME-backend):\n",
             stdout);
  std::fputs(BackendsText(true).c_str(), stdout);
  return 0;
}

}  // namespace kcorefs::cli
