#include "kcorefs/kernel/kernel_facts.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::kernel {
namespace {

using base::Hex;

absl::StatusOr<Vmcoreinfo> ParseNamed(const std::string& text, const std::string& origin) {
  auto v = Vmcoreinfo::Parse(text);
  if (!v.ok()) return base::Annotate(v.status(), origin);
  return v;
}

// The kernel's note found in physical memory. A scan that could not read the source is
// that I/O error, so the user fixes the source rather than hunting for a text.
absl::StatusOr<Vmcoreinfo> ScanMemory(const mem::MemoryMap& map, const Arch& arch,
                                      std::string* origin) {
  auto hit = ScanForVmcoreinfo(map, {.page_size = arch.page_size});
  if (!hit.ok()) {
    return base::Annotate(hit.status(),
                          "the source carries no VMCOREINFO, and scanning its physical memory "
                          "for the kernel's note failed");
  }
  if (!hit->has_value()) {
    return absl::NotFoundError(
        "the source carries no VMCOREINFO and none was found by scanning its physical memory; "
        "pass the kernel's text with --vmcoreinfo FILE (a copy of /sys/kernel/vmcoreinfo's "
        "note, or `kcorefs info` output of another dump of the same boot)");
  }
  *origin = absl::StrCat("scan of physical memory, note at ", Hex((*hit)->paddr));
  return Vmcoreinfo::Parse((*hit)->text);
}

// `--vmcoreinfo FILE`, else the source's note, else the scan.
absl::StatusOr<Vmcoreinfo> FindVmcoreinfo(const mem::MemoryMap& map, const KernelHints& hints,
                                          const DeriveOptions& options, std::string* origin) {
  if (options.vmcoreinfo_override.has_value()) {
    *origin = absl::StrCat("--vmcoreinfo ", options.vmcoreinfo_override_name);
    return ParseNamed(*options.vmcoreinfo_override, options.vmcoreinfo_override_name);
  }
  if (hints.vmcoreinfo.has_value()) {
    *origin = hints.vmcoreinfo_origin;
    return ParseNamed(*hints.vmcoreinfo, hints.vmcoreinfo_origin);
  }
  return ScanMemory(map, *hints.arch, origin);
}

// A derivation that failed on a truncated source says so: when the address it could not
// read lies in the part the file lacks, that is the cause; otherwise the cut is named as
// a likely one. Code and payloads are kept.
absl::Status PointAtTruncation(const absl::Status& status, const KernelHints& hints) {
  if (status.ok() || !hints.truncation.has_value()) return status;
  const Truncation& t = *hints.truncation;
  std::string cut = absl::StrCat("the truncated ", t.source, " (cut at ", t.file_size, " of ",
                                 t.described, " bytes)");
  std::optional<uint64_t> addr = base::FaultAddress(status);
  std::string why =
      addr.has_value() && t.Missing(*addr)
          ? absl::StrCat("physical ", Hex(*addr), " is in the part missing from ", cut,
                         "; mount the complete dump")
          : absl::StrCat("this may be caused by ", cut);
  absl::Status out(status.code(), absl::StrCat(status.message(), ": ", why));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

void TakeLayout(KernelLayout layout, KernelFacts& f) {
  f.kaslr_offset = layout.kaslr_offset;
  f.phys_base = layout.phys_base;
  f.five_level = layout.five_level;
  f.image = layout.image;
  f.direct_map_base = layout.direct_map_base;
  f.direct_map_origin = std::move(layout.direct_map_origin);
  for (const auto& [key, value] : layout.derived_vmcoreinfo) f.vmcoreinfo.AppendIfMissing(key, value);
}

}  // namespace

std::string Truncation::Headline() const {
  return absl::StrCat(source, " is truncated: headers describe ", described,
                      " bytes, the file has ", file_size);
}

bool Truncation::Missing(uint64_t paddr) const {
  auto it = std::upper_bound(missing_phys.begin(), missing_phys.end(), paddr,
                             [](uint64_t a, const std::pair<uint64_t, uint64_t>& r) { return a < r.first; });
  return it != missing_phys.begin() && paddr < std::prev(it)->second;
}

absl::StatusOr<KernelFacts> DeriveKernelFacts(const mem::MemoryMap& map, const KernelHints& hints,
                                              const DeriveOptions& options) {
  if (hints.arch == nullptr) return absl::InvalidArgumentError("unknown architecture");
  // Before anything else: an architecture without derivations must not be scanned or
  // told of keys it may not need.
  KCOREFS_RETURN_IF_ERROR(hints.arch->CheckSupported());
  KernelFacts f;
  f.arch = hints.arch;
  f.cpus = hints.cpus;
  auto vmcoreinfo = FindVmcoreinfo(map, hints, options, &f.vmcoreinfo_origin);
  if (!vmcoreinfo.ok()) return PointAtTruncation(vmcoreinfo.status(), hints);
  f.vmcoreinfo = std::move(*vmcoreinfo);
  std::vector<std::string> missing = f.vmcoreinfo.Missing(f.arch->required_vmcoreinfo_keys);
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "VMCOREINFO from ", f.vmcoreinfo_origin, " lacks ", absl::StrJoin(missing, ", "),
        "; pass the kernel's complete text with --vmcoreinfo FILE"));
  }
  f.osrelease = *f.vmcoreinfo.Get("OSRELEASE");
  auto layout =
      f.arch->DeriveLayout({map, f.vmcoreinfo, f.vmcoreinfo_origin, hints.direct_map_base, hints.image});
  if (!layout.ok()) return PointAtTruncation(layout.status(), hints);
  TakeLayout(std::move(*layout), f);
  // The image must be readable physically; the vmcore view serves it from there.
  absl::Status covered = map.ResolvePhys(f.image.paddr, f.image.size, [](const mem::Piece&) {});
  if (!covered.ok()) {
    f.warnings.push_back(absl::StrCat("kernel image [", Hex(f.image.paddr), ", +", Hex(f.image.size),
                                      ") is not wholly in the source: ",
                                      PointAtTruncation(covered, hints).message()));
  }
  KCOREFS_RETURN_IF_ERROR(AttachVmlinux(options, f));
  return f;
}

}  // namespace kcorefs::kernel
