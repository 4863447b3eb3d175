// The backend registry. Each backend registers its factory from its own directory
// (src/backends/NAME/); this file only routes a SOURCE to the factory that claims it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/unique_fd.h"
#include "kcorefs/io/mountinfo.h"
#include "kcorefs/io/small_file.h"

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

// What an ELF file's header says it is, read in the file's own byte order from the bytes
// MakeProbeInput read (never past them: a header or program header table that lies
// beyond is simply not looked at).
struct ElfKind {
  uint16_t type = 0;          // e_type: ET_REL 1, ET_EXEC 2, ET_DYN 3, ET_CORE 4
  bool kernel_image = false;  // a PT_LOAD at a kernel-half virtual address
};

std::optional<uint64_t> LoadField(absl::string_view m, size_t offset, size_t size, bool big) {
  if (offset > m.size() || size > m.size() - offset) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) {
    uint8_t b = static_cast<uint8_t>(m[offset + (big ? i : size - 1 - i)]);
    v = v << 8 | b;
  }
  return v;
}

std::optional<ElfKind> ReadElfKind(absl::string_view m) {
  if (!absl::StartsWith(m, "\x7f" "ELF") || m.size() < 16) return std::nullopt;
  const bool is64 = m[4] == 2, big = m[5] == 2;
  if ((m[4] != 1 && m[4] != 2) || (m[5] != 1 && m[5] != 2)) return std::nullopt;
  auto type = LoadField(m, 16, 2, big);
  if (!type) return std::nullopt;
  ElfKind k;
  k.type = static_cast<uint16_t>(*type);
  // The program header table: e_phoff, e_phentsize, e_phnum (ELF64 / ELF32 layouts).
  auto phoff = is64 ? LoadField(m, 32, 8, big) : LoadField(m, 28, 4, big);
  auto phentsize = LoadField(m, is64 ? 54 : 42, 2, big);
  auto phnum = LoadField(m, is64 ? 56 : 44, 2, big);
  const size_t min_entry = is64 ? 56 : 32;
  if (!phoff || !phentsize || !phnum || *phentsize < min_entry || *phoff >= m.size()) return k;
  // Kernels link their image into the top of the address space (x86_64, arm64, riscv64:
  // the top bit set; 32-bit kernels above 3 GiB); programs load at low addresses.
  const uint64_t kernel_half = is64 ? uint64_t{1} << 63 : 0xc0000000;
  const uint64_t fit = (m.size() - *phoff) / *phentsize;
  for (uint64_t i = 0; i < std::min<uint64_t>(*phnum, fit); ++i) {
    const size_t at = static_cast<size_t>(*phoff + i * *phentsize);
    auto p_type = LoadField(m, at, 4, big);
    auto vaddr = is64 ? LoadField(m, at + 16, 8, big) : LoadField(m, at + 8, 4, big);
    if (p_type == 1 /* PT_LOAD */ && vaddr && *vaddr >= kernel_half) k.kernel_image = true;
  }
  return k;
}

absl::string_view ElfTypeName(uint16_t type) {
  switch (type) {
    case 1: return "ET_REL";
    case 2: return "ET_EXEC";
    case 3: return "ET_DYN";
    default: return "";
  }
}

// The file system type of the mount whose mount point is `path` ("fuse.kcorefs"), or "".
std::string MountTypeAt(const std::string& path) {
  auto top = io::TopMountAt(path);
  return top ? top->fs_type : "";
}

// Inputs that were recognised but that no backend can serve, whatever claims their magic:
// the whole message, refused before any backend probes (a vmlinux starts "\x7fELF" as a
// core does, a kcorefs mount is a directory). nullopt for everything else.
std::optional<std::string> Unservable(const ProbeInput& in) {
  const std::string& src = in.source;
  switch (in.kind) {
    case ProbeInput::Kind::kFifo:
      return absl::StrCat(src, " is a FIFO (named pipe): kcorefs reads its source at random "
                          "offsets, which a pipe cannot give; copy it to a file first (cat ",
                          src, " > FILE) and give FILE");
    case ProbeInput::Kind::kSocket:
      return absl::StrCat(src, " is a socket, not a file: give a dump file, a block device, "
                          "/proc/kcore or a URI a backend reads (`kcorefs backends`)");
    case ProbeInput::Kind::kDirectory:
      if (MountTypeAt(src) == "fuse.kcorefs") {
        return absl::StrCat(src, " is a kcorefs mount; use ", src, "/vmcore (or ", src,
                            "/kcore) as the source");
      }
      return std::nullopt;
    case ProbeInput::Kind::kRegular:
    case ProbeInput::Kind::kBlockDevice: break;
    default: return std::nullopt;
  }
  std::optional<ElfKind> elf = ReadElfKind(in.magic);
  if (!elf.has_value() || ElfTypeName(elf->type).empty()) return std::nullopt;
  const absl::string_view type = ElfTypeName(elf->type);
  if (elf->kernel_image && elf->type != 1) {
    return absl::StrCat(src, " is a kernel image (vmlinux: ELF ", type, ", not ET_CORE), not "
                        "a memory source; give it as --vmlinux or to the debugger (crash ",
                        src, " MNT/vmcore), and mount a dump or /proc/kcore");
  }
  if (elf->type == 1) {
    return absl::StrCat(src, " is an ELF relocatable object (ET_REL, not ET_CORE: a kernel "
                        "module or a .o), not a memory source; mount a dump or /proc/kcore");
  }
  return absl::StrCat(src, " is an ELF program or shared library (", type, ", not ET_CORE), "
                      "not a memory source; mount a kernel dump (a kdump vmcore, a QEMU "
                      "dump-guest-memory ELF) or /proc/kcore");
}

// For a path stat() refused: a dead FUSE mount (its daemon was killed) gives ENOTCONN.
absl::Status MissingSource(const std::string& source) {
  struct stat st;
  int err = ::stat(source.c_str(), &st) == 0 ? ENOENT : errno;
  if (err == ENOTCONN) {
    return base::ErrnoError(err, absl::StrCat(
        source, " is a FUSE mount whose daemon is gone; unmount it (fusermount3 -u ", source,
        "), mount it again, and use its vmcore"));
  }
  return base::ErrnoError(err, absl::StrCat("open ", source));
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
  else if (S_ISFIFO(st.st_mode)) in.kind = ProbeInput::Kind::kFifo;
  else if (S_ISSOCK(st.st_mode)) in.kind = ProbeInput::Kind::kSocket;
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
    case ProbeInput::Kind::kDirectory:
      if (MountTypeAt(in.source) == "fuse.kcorefs") return "a kcorefs mount";
      return "a directory";
    case ProbeInput::Kind::kCharDevice:
      return "a character device (the live backend reads /proc/kcore, /dev/mem and /dev/crash)";
    case ProbeInput::Kind::kFifo: return "a FIFO (named pipe)";
    case ProbeInput::Kind::kSocket: return "a socket";
    case ProbeInput::Kind::kOther: return "a special file";
    case ProbeInput::Kind::kNone:
      return in.scheme.empty() ? "not an existing file" : absl::StrCat("a URI of scheme ", in.scheme);
    default: break;
  }
  // The signatures the dump writers put at offset 0 (makedumpfile's diskdump.h and
  // makedumpfile.h, LiME's lime.h, AVML's compressed LiME, QEMU's savevm).
  if (std::optional<ElfKind> elf = ReadElfKind(m); elf.has_value()) {
    if (elf->kernel_image && (elf->type == 2 || elf->type == 3)) return "a kernel image (vmlinux)";
    if (elf->type == 1) return "an ELF relocatable object";
    if (elf->type == 2 || elf->type == 3) return "an ELF program or shared library";
  }
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

namespace {

// The step that gets a refused file served, where there is one.
std::string WhatToDo(const ProbeInput& in) {
  if (in.kind != ProbeInput::Kind::kRegular && in.kind != ProbeInput::Kind::kBlockDevice) return "";
  absl::string_view m = in.magic;
  if (absl::StartsWith(m, "makedumpfile")) {
    return "; `makedumpfile -R OUT < FILE` rewrites it as a kdump-compressed file, which the "
           "kdump backend reads";
  }
  if (absl::StartsWith(m, "\x7f" "ELF") || absl::StartsWith(m, "KDUMP   ") ||
      absl::StartsWith(m, "EMiL") || m.empty()) {
    return "";
  }
  return "; if it is a raw physical memory image, give it as raw:FILE (-o phys_start=ADDR)";
}

}  // namespace

absl::StatusOr<ResolvedSource> ResolveBackend(const std::string& source) {
  ProbeInput in = MakeProbeInput(source);
  if (auto named = ExplicitName(in); named.has_value()) {
    const BackendFactory* f = FindBackend(named->first);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": unknown backend ", named->first, "; known: ", KnownNames(),
          " (and no file of that name exists)"));
    }
    // A pipe or socket would block the backend's open (a FIFO waits for a writer) and
    // cannot be read at offsets anyway, whichever backend was named.
    ProbeInput rest = MakeProbeInput(named->second);
    if (rest.kind == ProbeInput::Kind::kFifo || rest.kind == ProbeInput::Kind::kSocket) {
      return absl::InvalidArgumentError(*Unservable(rest));
    }
    return ResolvedSource{f, named->second};
  }
  if (std::optional<std::string> refused = Unservable(in); refused.has_value()) {
    return absl::UnimplementedError(*refused);
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
  if (in.kind == ProbeInput::Kind::kNone && in.scheme.empty()) return MissingSource(source);
  return absl::UnimplementedError(absl::StrCat(
      source, " is ", DescribeSource(in), ": no backend of this build reads it (",
      "backends: ", KnownNames(), "; `kcorefs backends` lists what each reads)", WhatToDo(in)));
}

absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(const std::string& source,
                                                     const BackendConfig& config) {
  auto resolved = ResolveBackend(source);
  if (!resolved.ok()) return resolved.status();
  return OpenWith(*resolved->factory, resolved->source, config);
}

}  // namespace kcorefs::backends
