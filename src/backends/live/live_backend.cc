#include "backends/live/live_backend.h"

#include <algorithm>
#include <ctime>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "backends/common/live_core.h"
#include "backends/common/snapshot_builder.h"
#include "backends/common/static_backend.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/io/small_file.h"

namespace kcorefs::backends {
namespace {

using base::Hex;

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

// /proc/kcore (or an ELF kcore at live:PATH): a changed size or program header table means
// a new layout and a new epoch (LiveElfCore).
class KcoreLiveBackend final : public Backend {
 public:
  KcoreLiveBackend(std::string path, std::shared_ptr<io::FileByteSource> file,
                   kernel::DeriveOptions derive)
      : path_(std::move(path)), file_(file),
        core_(path_, "live /proc/kcore", file, [file] { return file->Stat(); }, std::move(derive)) {}

  absl::string_view name() const override { return "live"; }
  const std::string& source() const override { return path_; }
  Capabilities capabilities() const override {
    // Not fd-backed: a splice would read the shared fd (see io::FileSharing).
    return Capabilities{.bytes_volatile = true, .map_volatile = true,
                        .threads = ThreadModel::kParallel, .fd_backed = false};
  }
  uint64_t bytes_read() const override { return file_->bytes_read(); }
  absl::StatusOr<std::shared_ptr<const Snapshot>> Current() override { return core_.Current(); }

 private:
  std::string path_;
  std::shared_ptr<io::FileByteSource> file_;
  LiveElfCore core_;
};

// /sys/kernel/vmcoreinfo holds "PADDR SIZE" (hex) of the kernel's vmcoreinfo_note.
absl::StatusOr<std::string> ReadVmcoreinfoViaSysfs(const mem::MemoryMap& map) {
  const std::string sysfs = "/sys/kernel/vmcoreinfo";
  KCOREFS_ASSIGN_OR_RETURN(std::string text, io::ReadSmallFile(sysfs));
  std::vector<std::string> parts = absl::StrSplit(absl::StripAsciiWhitespace(text), ' ',
                                                  absl::SkipEmpty());
  uint64_t paddr = 0, size = 0;
  if (parts.size() != 2 || !absl::SimpleHexAtoi(parts[0], &paddr) ||
      !absl::SimpleHexAtoi(parts[1], &size) || size > (1 << 16) || size < 24) {
    return absl::InvalidArgumentError(absl::StrCat(sysfs, ": unexpected contents \"", text, "\""));
  }
  std::string note(size, '\0');
  KCOREFS_RETURN_IF_ERROR(
      map.ReadPhys(paddr, absl::MakeSpan(reinterpret_cast<uint8_t*>(note.data()), size)));
  KCOREFS_ASSIGN_OR_RETURN(auto notes, kernel::ParseNotes(note));
  for (kernel::Note& n : notes) {
    if (n.name == "VMCOREINFO" && n.type == 0) return std::move(n.desc);
  }
  return absl::NotFoundError(absl::StrCat("no VMCOREINFO note at physical ", Hex(paddr)));
}

absl::StatusOr<std::unique_ptr<Backend>> OpenPhysDevice(const std::string& path,
                                                        const kernel::DeriveOptions& derive) {
  KCOREFS_ASSIGN_OR_RETURN(auto dev, io::FileByteSource::Open(path));
  KCOREFS_ASSIGN_OR_RETURN(std::string iomem, io::ReadSmallFile("/proc/iomem"));
  KCOREFS_ASSIGN_OR_RETURN(auto ranges, ParseIomemSystemRam(iomem));
  std::vector<mem::Segment> segs;
  for (const IomemRange& r : ranges) {
    uint64_t size = r.last - r.first + 1;
    segs.push_back(mem::Segment{r.first, size, size, dev, r.first});
  }
  KCOREFS_ASSIGN_OR_RETURN(mem::MemoryMap map, mem::MemoryMap::Create(std::move(segs), {}));
  kernel::KernelHints hints;
  hints.arch = kernel::ArchByName("x86_64");
  auto text = ReadVmcoreinfoViaSysfs(map);
  if (text.ok()) {
    hints.vmcoreinfo = std::move(*text);
    hints.vmcoreinfo_origin = "/sys/kernel/vmcoreinfo";
  } else {
    base::LogWarning(absl::StrCat("cannot read VMCOREINFO through /sys/kernel/vmcoreinfo: ",
                                  text.status().message(), "; scanning memory instead"));
  }
  SnapshotParts parts{std::move(map), std::move(hints), {}, absl::StrCat("physical memory (", path, ")"),
                      1, Now()};
  KCOREFS_ASSIGN_OR_RETURN(auto snap, BuildSnapshot(path, std::move(parts), derive));
  // The RAM ranges are read once; the bytes stay live (direct_io).
  Capabilities caps{.bytes_volatile = true, .map_volatile = false,
                    .threads = ThreadModel::kParallel, .fd_backed = true};
  return std::unique_ptr<Backend>(new StaticBackend("live", path, caps, std::move(dev), std::move(snap)));
}

class LiveFactory final : public BackendFactory {
 public:
  absl::string_view name() const override { return "live"; }
  absl::string_view summary() const override {
    return "the running kernel: /proc/kcore, /dev/crash or /dev/mem";
  }
  int Probe(const ProbeInput& in) const override {
    const std::string& s = in.source;
    return s == "live" || s == "/proc/kcore" || s == "/dev/mem" || s == "/dev/crash" ? 100 : 0;
  }
  absl::StatusOr<std::unique_ptr<Backend>> Open(const std::string& source,
                                                const BackendConfig& config) const override {
    return OpenLiveBackend(source, config);
  }
};

KCOREFS_REGISTER_BACKEND(LiveFactory);

}  // namespace

absl::StatusOr<std::vector<IomemRange>> ParseIomemSystemRam(absl::string_view text) {
  std::vector<IomemRange> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line.empty() || line[0] == ' ') continue;  // nested resources are parts of a parent
    size_t colon = line.find(" : ");
    if (colon == absl::string_view::npos || line.substr(colon + 3) != "System RAM") continue;
    std::vector<absl::string_view> ends = absl::StrSplit(line.substr(0, colon), '-');
    IomemRange r;
    if (ends.size() != 2 || !absl::SimpleHexAtoi(ends[0], &r.first) ||
        !absl::SimpleHexAtoi(ends[1], &r.last) || r.last < r.first) {
      return absl::InvalidArgumentError(absl::StrCat("/proc/iomem: cannot parse \"", line, "\""));
    }
    if (r.first == 0 && r.last == 0) {
      return absl::PermissionDeniedError(
          "/proc/iomem shows zero addresses: run as root (CAP_SYS_ADMIN) to read RAM ranges");
    }
    out.push_back(r);
  }
  if (out.empty()) return absl::NotFoundError("/proc/iomem lists no System RAM");
  return out;
}

absl::StatusOr<std::unique_ptr<Backend>> OpenLiveBackend(const std::string& source,
                                                         const BackendConfig& config) {
  // "live" alone is this machine's /proc/kcore.
  const std::string path = source == "live" || source.empty() ? "/proc/kcore" : source;
  if (path == "/dev/mem" || path == "/dev/crash") return OpenPhysDevice(path, config.derive);
  // One reader per open file: concurrent reads of one open /proc/kcore share the kernel's
  // bounce buffer and can return each other's bytes (see io::FileSharing).
  KCOREFS_ASSIGN_OR_RETURN(auto file,
                           io::FileByteSource::Open(path, io::FileSharing::kOneReaderPerOpen));
  auto backend = std::make_unique<KcoreLiveBackend>(path, std::move(file), config.derive);
  KCOREFS_RETURN_IF_ERROR(backend->Current().status());
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace kcorefs::backends
