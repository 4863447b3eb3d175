// The backend registry. Each backend registers its factory from its own directory
// (src/backends/NAME/); this file only routes a SOURCE to the factory that claims it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/unique_fd.h"

namespace kcorefs::backends {
namespace {

constexpr size_t kMagicBytes = 4096;

struct Registry {
  absl::Mutex mu;
  std::vector<std::unique_ptr<BackendFactory>> factories ABSL_GUARDED_BY(mu);
};

Registry& TheRegistry() {
  static auto* r = new Registry();  // never destroyed: registrations are static
  return *r;
}

// "nbd+unix" for "nbd+unix:///x": an RFC 3986 scheme followed by "://" or ":" + "/".
std::string SchemeOf(const std::string& source) {
  size_t colon = source.find(':');
  if (colon == std::string::npos || colon == 0) return "";
  for (size_t i = 0; i < colon; ++i) {
    char c = source[i];
    bool ok = absl::ascii_isalpha(c) || (i > 0 && (absl::ascii_isdigit(c) || c == '+' ||
                                                   c == '-' || c == '.'));
    if (!ok) return "";
  }
  if (source.compare(colon, 3, "://") != 0) return "";
  return absl::AsciiStrToLower(source.substr(0, colon));
}

std::string KnownNames() {
  std::vector<std::string> names;
  for (const BackendFactory* f : Backends()) names.emplace_back(f->name());
  return absl::StrJoin(names, ", ");
}

// "NAME:REST" where NAME looks like a backend name and SOURCE is not an existing path.
std::optional<std::pair<std::string, std::string>> ExplicitName(const ProbeInput& in) {
  if (in.kind != ProbeInput::Kind::kNone || !in.scheme.empty()) return std::nullopt;
  size_t colon = in.source.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string name = in.source.substr(0, colon);
  for (char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-' && c != '_') return std::nullopt;
  }
  return std::make_pair(name, in.source.substr(colon + 1));
}

absl::StatusOr<std::unique_ptr<Backend>> OpenWith(const BackendFactory& f,
                                                  const std::string& source,
                                                  const BackendConfig& config) {
  absl::Status ok = config.Check(f.name(), f.keys());
  if (!ok.ok()) return ok;
  return f.Open(source, config);
}

}  // namespace

bool RegisterBackend(std::unique_ptr<BackendFactory> factory) {
  Registry& r = TheRegistry();
  absl::MutexLock lock(&r.mu);
  r.factories.push_back(std::move(factory));
  return true;
}

std::vector<const BackendFactory*> Backends() {
  Registry& r = TheRegistry();
  absl::MutexLock lock(&r.mu);
  std::vector<const BackendFactory*> out;
  for (const auto& f : r.factories) out.push_back(f.get());
  std::sort(out.begin(), out.end(),
            [](const BackendFactory* a, const BackendFactory* b) { return a->name() < b->name(); });
  return out;
}

const BackendFactory* FindBackend(absl::string_view name) {
  for (const BackendFactory* f : Backends()) {
    if (f->name() == name) return f;
  }
  return nullptr;
}

ProbeInput MakeProbeInput(const std::string& source) {
  ProbeInput in;
  in.source = source;
  in.scheme = SchemeOf(source);
  if (!in.scheme.empty()) return in;
  struct stat st;
  if (::stat(source.c_str(), &st) != 0) return in;
  if (S_ISREG(st.st_mode)) in.kind = ProbeInput::Kind::kRegular;
  else if (S_ISDIR(st.st_mode)) in.kind = ProbeInput::Kind::kDirectory;
  else if (S_ISCHR(st.st_mode)) in.kind = ProbeInput::Kind::kCharDevice;
  else if (S_ISBLK(st.st_mode)) in.kind = ProbeInput::Kind::kBlockDevice;
  else in.kind = ProbeInput::Kind::kOther;
  if (in.kind == ProbeInput::Kind::kRegular || in.kind == ProbeInput::Kind::kBlockDevice) {
    base::UniqueFd fd(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid()) {
      in.magic.resize(kMagicBytes);
      ssize_t n = ::pread(fd.get(), in.magic.data(), kMagicBytes, 0);
      in.magic.resize(n > 0 ? static_cast<size_t>(n) : 0);
    }
  }
  return in;
}

std::string DescribeSource(const ProbeInput& in) {
  const std::string& m = in.magic;
  switch (in.kind) {
    case ProbeInput::Kind::kDirectory: return "a directory";
    case ProbeInput::Kind::kCharDevice: return "a character device";
    case ProbeInput::Kind::kOther: return "a special file";
    case ProbeInput::Kind::kNone:
      return in.scheme.empty() ? "not an existing file" : absl::StrCat("a URI of scheme ", in.scheme);
    default: break;
  }
  // The signatures the dump writers put at offset 0 (makedumpfile's diskdump.h and
  // makedumpfile.h, LiME's lime.h, AVML's compressed LiME, QEMU's savevm).
  if (absl::StartsWith(m, "\x7f" "ELF")) return "an ELF file";
  if (absl::StartsWith(m, "KDUMP   ")) return "a kdump-compressed (diskdump) file";
  if (absl::StartsWith(m, "DISKDUMP")) return "a diskdump file";
  if (absl::StartsWith(m, "makedumpfile")) return "a makedumpfile flattened file";
  if (absl::StartsWith(m, "EMiL")) return "a LiME memory image";
  if (absl::StartsWith(m, "AVML")) return "an AVML compressed LiME image";
  if (absl::StartsWith(m, "QEVM")) return "a QEMU savevm image";
  if (m.empty()) return "an empty file";
  return "a file of unknown format (not an ELF core, nor a kdump-compressed, flattened or LiME file)";
}

absl::StatusOr<ResolvedSource> ResolveBackend(const std::string& source) {
  ProbeInput in = MakeProbeInput(source);
  if (auto named = ExplicitName(in); named.has_value()) {
    const BackendFactory* f = FindBackend(named->first);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": unknown backend ", named->first, "; known: ", KnownNames(),
          " (and no file of that name exists)"));
    }
    return ResolvedSource{f, named->second};
  }
  const BackendFactory* best = nullptr;
  int best_score = 0;
  for (const BackendFactory* f : Backends()) {
    int score = f->Probe(in);
    if (score > best_score) {
      best = f;
      best_score = score;
    }
  }
  if (best != nullptr) return ResolvedSource{best, source};
  if (in.kind == ProbeInput::Kind::kNone && in.scheme.empty()) {
    return base::ErrnoError(ENOENT, absl::StrCat("open ", source));
  }
  return absl::UnimplementedError(absl::StrCat(
      source, " is ", DescribeSource(in), ": no backend of this build reads it (",
      "backends: ", KnownNames(), "; `kcorefs backends` lists what each reads)"));
}

absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(const std::string& source,
                                                     const BackendConfig& config) {
  auto resolved = ResolveBackend(source);
  if (!resolved.ok()) return resolved.status();
  return OpenWith(*resolved->factory, resolved->source, config);
}

}  // namespace kcorefs::backends
