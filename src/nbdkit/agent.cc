#include "nbdkit/agent.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kcorefs/backends/redact.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/io/small_file.h"

namespace kcorefs::nbdkit {
namespace {

// nbdkit changes directory to / when it forks into the background, and a backend may
// reopen its path later: paths are made absolute while the working directory is the
// user's. A string that is not an existing path (live, nbd://…, NAME:REST) is kept.
std::string AbsoluteIfPath(const std::string& s) {
  struct stat st;
  if (s.empty() || absl::StrContains(s, "://") || ::stat(s.c_str(), &st) != 0) return s;
  char real[PATH_MAX];
  return ::realpath(s.c_str(), real) != nullptr ? std::string(real) : s;
}

absl::StatusOr<std::string> ExistingFile(absl::string_view key, const std::string& path) {
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr) {
    return base::ErrnoError(errno, absl::StrCat(key, "=", path));
  }
  struct stat st;
  if (::stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(key, "=", path, ": not a regular file"));
  }
  return std::string(real);
}

}  // namespace

absl::Status SetOption(absl::string_view key, absl::string_view value, AgentOptions& options) {
  std::string v(value);
  if (key == "source") {
    if (v.empty()) return absl::InvalidArgumentError("source= is empty");
    options.source = AbsoluteIfPath(v);
  } else if (key == "view") {
    // Checked against the registry here, before anything is opened.
    if (elf::FindViewType(v) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("view=", v, ": no such view; views: ", elf::ViewNames()));
    }
    options.view = v;
  } else if (key == "timeout") {
    // The same parser as the backends' durations ("30", "0.5", "200ms").
    backends::BackendConfig c;
    c.Set("timeout", v);
    KCOREFS_ASSIGN_OR_RETURN(absl::Duration d, c.GetDuration("timeout", options.timeout));
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("timeout=", v, ": must be positive"));
    }
    options.timeout = d;
  } else if (key == "vmlinux") {
    if (v.empty()) {
      options.vmlinux = "";
    } else {
      KCOREFS_ASSIGN_OR_RETURN(options.vmlinux, ExistingFile("vmlinux", v));
    }
  } else if (key == "vmcoreinfo") {
    KCOREFS_ASSIGN_OR_RETURN(options.vmcoreinfo, ExistingFile("vmcoreinfo", v));
  } else if (key == "allow_plain_tcp") {
    // The same parser as the backends' booleans.
    backends::BackendConfig c;
    c.Set("allow_plain_tcp", v);
    KCOREFS_ASSIGN_OR_RETURN(options.allow_plain_tcp, c.GetBool("allow_plain_tcp", false));
  } else if (key == "redact") {
    if (v != "user") {
      return absl::InvalidArgumentError(
          absl::StrCat("redact=", v, ": unknown redaction; the one there is is redact=user"));
    }
    options.redact_user = true;
  } else {
    options.config.Set(key, value);
  }
  return absl::OkStatus();
}

std::string HelpText() {
  std::string out =
      "source=SOURCE      (required) what to serve, as `kcorefs mount` takes it: a dump file,\n"
      "                   a directory, live, NAME:REST, nbd://... (`kcorefs backends`)\n"
      "view=VIEW          the kcorefs view to export; default vmcore. Views: ";
  absl::StrAppend(&out, elf::ViewNames(), "\n");
  absl::StrAppend(
      &out,
      "timeout=SECONDS    deadline of each read (EIO after it); default 30\n"
      "vmlinux=PATH       the kernel's vmlinux (\"\" for none)\n"
      "vmcoreinfo=FILE    use FILE's VMCOREINFO text instead of the source's\n"
      "allow_plain_tcp=1  serve TCP clients without TLS too (refused by default)\n"
      "redact=user        user and free pages as holes (docs/security.md, Redaction)\n"
      "KEY=VALUE          any other key goes to the source's backend:\n");
  for (const backends::BackendFactory* f : backends::Backends()) {
    for (const backends::ConfigKey& k : f->keys()) {
      std::string key = k.value.empty() ? std::string(k.name) : absl::StrCat(k.name, "=", k.value);
      absl::StrAppendFormat(&out, "  %s: %s\n      %s\n", std::string(f->name()), key,
                            std::string(k.help));
    }
  }
  absl::StrAppend(&out, "Serves read-only. See kcorefs's docs/agent.md and nbdkit-kcorefs-plugin(1).");
  return out;
}

absl::Status Connection::Read(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const {
  if (!base::RangeWithin(offset, out.size(), view_->size())) {
    return absl::OutOfRangeError(absl::StrCat("read of ", out.size(), " bytes at ",
                                              base::Hex(offset), " is past the end of the ",
                                              view_->name(), " view (", view_->size(), " bytes)"));
  }
  size_t done = 0;
  while (done < out.size()) {
    KCOREFS_ASSIGN_OR_RETURN(size_t n, view_->ReadAt(offset + done, out.subspan(done), deadline));
    if (n == 0) {
      // Within size() a read is never short; if it is, the bytes are not there.
      return absl::DataLossError(absl::StrCat("short read of the ", view_->name(), " view at ",
                                              base::Hex(offset + done)));
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::Status Connection::Extents(
    uint64_t offset, uint64_t length,
    absl::FunctionRef<absl::Status(uint64_t, uint64_t, bool)> fn) const {
  // Adjacent pieces of the same kind are merged: a client asks for extents to skip holes,
  // and one run per kind is all it needs.
  uint64_t pos = offset, run_start = offset, run_length = 0;
  bool run_hole = false;
  KCOREFS_RETURN_IF_ERROR(view_->ForEachPiece(offset, length, [&](const elf::Piece& p) {
    bool hole = p.source == nullptr;
    absl::Status s = absl::OkStatus();
    if (run_length > 0 && hole != run_hole) {
      s = fn(run_start, run_length, run_hole);
      run_length = 0;
    }
    if (run_length == 0) {
      run_start = pos;
      run_hole = hole;
    }
    run_length += p.length;
    pos += p.length;
    return s;
  }));
  if (run_length > 0) return fn(run_start, run_length, run_hole);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Open(AgentOptions options) {
  if (options.source.empty()) {
    return absl::InvalidArgumentError(
        "source= is required: a dump file, a directory, live, nbd://... "
        "(`nbdkit kcorefs --help` lists the keys)");
  }
  // Route and check the backend's keys before opening anything, as `kcorefs mount` does.
  KCOREFS_ASSIGN_OR_RETURN(backends::ResolvedSource resolved,
                           backends::ResolveBackend(options.source));
  KCOREFS_RETURN_IF_ERROR(
      options.config.Check(resolved.factory->name(), resolved.factory->keys()));
  backends::BackendConfig config = options.config;
  config.derive.vmlinux_path = options.vmlinux;
  if (options.vmcoreinfo.has_value()) {
    auto text = io::ReadSmallFile(*options.vmcoreinfo, 1 << 16);
    if (!text.ok()) return base::Annotate(text.status(), "vmcoreinfo=");
    config.derive.vmcoreinfo_override = std::move(*text);
    config.derive.vmcoreinfo_override_name = *options.vmcoreinfo;
  }
  auto agent = std::unique_ptr<Agent>(new Agent());
  KCOREFS_ASSIGN_OR_RETURN(agent->backend_, backends::OpenBackend(options.source, config));
  if (options.redact_user) {
    KCOREFS_ASSIGN_OR_RETURN(agent->backend_, backends::NewRedactingBackend(std::move(agent->backend_)));
  }
  agent->options_ = std::move(options);
  // Build the view now: a view that does not apply to this source (coreimage of a dump)
  // or a source whose layout cannot be served fails startup, not the first connection.
  KCOREFS_ASSIGN_OR_RETURN(std::unique_ptr<Connection> first, agent->Connect());
  return agent;
}

absl::Status Agent::Start() { return backend_->Start(); }

void Agent::Close() { backend_->Close(); }

absl::StatusOr<std::unique_ptr<Connection>> Agent::Connect() {
  auto snapshot = backend_->Current();
  if (!snapshot.ok()) return base::Annotate(snapshot.status(), options_.source);
  {
    absl::MutexLock lock(&mu_);
    if (view_ != nullptr && &view_->snapshot() == snapshot->get()) {
      return std::make_unique<Connection>(view_);
    }
  }
  auto view = elf::CoreView::Build(options_.view, *snapshot);
  if (!view.ok()) return base::Annotate(view.status(), options_.source);
  absl::MutexLock lock(&mu_);
  view_ = *view;
  return std::make_unique<Connection>(std::move(*view));
}

std::string Agent::Description() const {
  return absl::StrCat("kcorefs ", options_.view, " of ", options_.source, " (",
                      backend_->live() ? "live" : "immutable", ")");
}

std::vector<std::string> Agent::Warnings() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  if (view_ == nullptr) return out;
  out = view_->snapshot().warnings;
  out.insert(out.end(), view_->warnings().begin(), view_->warnings().end());
  return out;
}

}  // namespace kcorefs::nbdkit
