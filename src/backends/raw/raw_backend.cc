// raw: a raw physical memory image (dd of /dev/mem or /dev/crash, a hypervisor's RAM file,
// a LiME-less capture) — byte N of the file is physical address phys_start + N. Nothing
// in the file says what it is, so it is only chosen by name: `raw:FILE`. No VMCOREINFO
// (--vmcoreinfo FILE, or kcorefs scans the image for the kernel's note), no registers,
// x86_64. docs/backends/kcorefs-raw-backend.7.md.
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "backends/common/snapshot_builder.h"
#include "backends/common/static_backend.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/kernel/arch.h"

namespace kcorefs::backends::raw {
namespace {

using base::Hex;

// phys_start takes hex (0x80000000) as physical addresses are written, or a size (2G).
absl::StatusOr<uint64_t> PhysStart(const BackendConfig& config) {
  std::optional<std::string> v = config.Get("phys_start");
  if (v && absl::StartsWithIgnoreCase(*v, "0x")) {
    uint64_t n;
    if (!absl::SimpleHexAtoi(absl::string_view(*v).substr(2), &n)) {
      return absl::InvalidArgumentError(
          absl::StrCat("phys_start=", *v, ": expected a hex address (0x...) or a size"));
    }
    return n;
  }
  return config.GetBytes("phys_start", 0);
}

absl::StatusOr<std::unique_ptr<Backend>> OpenRaw(const std::string& path,
                                                 const BackendConfig& config) {
  KCOREFS_ASSIGN_OR_RETURN(uint64_t start, PhysStart(config));
  KCOREFS_ASSIGN_OR_RETURN(auto file, io::FileByteSource::Open(path));
  struct stat st;
  if (::fstat(*file->fd(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  uint64_t size = file->size();
  if (size == 0) return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  if (!base::CheckedAdd(start, size)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": phys_start ", Hex(start), " + ",
                                                   Hex(size), " bytes is past the address space"));
  }
  SnapshotParts parts;
  KCOREFS_ASSIGN_OR_RETURN(parts.map, mem::MemoryMap::Create({{start, size, size, file, 0}}, {}));
  parts.hints.arch = &kernel::ArchX86_64();
  parts.format = absl::StrCat("raw physical image at ", Hex(start));
  parts.mtime = st.st_mtim.tv_sec;
  KCOREFS_ASSIGN_OR_RETURN(auto snap, BuildSnapshot(path, std::move(parts), config.derive));
  Capabilities caps;
  caps.fd_backed = true;
  return std::unique_ptr<Backend>(
      new StaticBackend("raw", path, caps, std::move(file), std::move(snap)));
}

class RawFactory final : public BackendFactory {
 public:
  absl::string_view name() const override { return "raw"; }
  absl::string_view summary() const override {
    return "a raw physical memory image; only as raw:FILE (-o phys_start=ADDR)";
  }
  std::vector<ConfigKey> keys() const override {
    return {{"phys_start", "ADDR", "physical address of the file's first byte (default 0)"}};
  }
  // Any file could be raw memory: never claimed by probing.
  int Probe(const ProbeInput&) const override { return 0; }
  absl::StatusOr<std::unique_ptr<Backend>> Open(const std::string& source,
                                                const BackendConfig& config) const override {
    return OpenRaw(source, config);
  }
};

KCOREFS_REGISTER_BACKEND(RawFactory);

}  // namespace
}  // namespace kcorefs::backends::raw
