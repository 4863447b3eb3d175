// kdump: dumps libkdumpfile reads — makedumpfile's kdump-compressed (diskdump) files with
// zlib, lzo, snappy or zstd pages, and the other formats of libkdumpfile 0.5.1 that carry
// a Linux x86_64 kernel. Pages the dump left out (makedumpfile -d N) are gaps between
// segments, never zeros. docs/backends/kcorefs-kdump-backend.7.md.
#include <libkdumpfile/kdumpfile.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backends/common/snapshot_builder.h"
#include "backends/common/static_backend.h"
#include "backends/kdump/diskdump_layout.h"
#include "backends/kdump/kdump_context.h"
#include "backends/kdump/kdump_source.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/kernel/arch.h"
#include "kcorefs/kernel/cpu_state.h"

namespace kcorefs::backends::kdump {
namespace {

using base::Hex;

// Each run is a PT_LOAD of every view. Past 65535 a view needs PN_XNUM, which kcorefs writes
// but which no consumer was tested with; the limit stays below it.
constexpr uint64_t kMaxRuns = 60000;

struct DumpShape {
  std::string format;       // file.format: "diskdump", "elf", ...
  std::string description;  // file.description: "Compressed KDUMP"
  uint64_t page_size = 0;
  uint64_t max_pfn = 0;
};

absl::StatusOr<uint64_t> NumberAttr(ContextPool& pool, const char* key) {
  kdump_num_t n;
  kdump_status s = kdump_get_number_attr(pool.main(), key, &n);
  if (s != KDUMP_OK) return KdumpError(pool.main(), s, pool.path(), absl::StrCat("read ", key));
  return n;
}

std::string StringAttr(ContextPool& pool, const char* key) {
  const char* str = nullptr;
  if (kdump_get_string_attr(pool.main(), key, &str) != KDUMP_OK || str == nullptr) return "";
  return str;
}

// A blob attribute's bytes (copied: the blob is pinned only for the copy).
std::optional<std::string> BlobAttr(ContextPool& pool, const char* key) {
  kdump_attr_t attr;
  if (kdump_get_attr(pool.main(), key, &attr) != KDUMP_OK || attr.type != KDUMP_BLOB) {
    return std::nullopt;
  }
  kdump_blob_t* blob = attr.val.blob;
  const void* data = kdump_blob_pin(blob);
  std::string bytes(static_cast<const char*>(data), data != nullptr ? kdump_blob_size(blob) : 0);
  kdump_blob_unpin(blob);
  return bytes;
}

// QEMU's dump-guest-memory -f kdump-* leaves the header's machine name empty, so
// libkdumpfile names no architecture; x86_64's VMCOREINFO is the only one with init_top_pgt.
bool IsX86_64Vmcoreinfo(ContextPool& pool) {
  uint64_t ptr_size = 0;
  kdump_num_t n;
  if (kdump_get_number_attr(pool.main(), KDUMP_ATTR_PTR_SIZE, &n) == KDUMP_OK) ptr_size = n;
  std::optional<std::string> text = BlobAttr(pool, "linux.vmcoreinfo.raw");
  return ptr_size == 8 && text && absl::StrContains(*text, "\nSYMBOL(init_top_pgt)=");
}

absl::StatusOr<DumpShape> ReadShape(ContextPool& pool) {
  DumpShape d;
  d.format = StringAttr(pool, KDUMP_ATTR_FILE_FORMAT);
  d.description = StringAttr(pool, "file.description");
  std::string arch = StringAttr(pool, KDUMP_ATTR_ARCH_NAME);
  if (arch.empty() && IsX86_64Vmcoreinfo(pool)) arch = "x86_64";
  if (arch != "x86_64") {
    return absl::UnimplementedError(absl::StrCat(
        pool.path(), ": a ", d.description, " dump of architecture '", arch,
        "'; kcorefs serves x86_64 kernels from it so far"));
  }
  KCOREFS_ASSIGN_OR_RETURN(d.page_size, NumberAttr(pool, KDUMP_ATTR_PAGE_SIZE));
  KCOREFS_ASSIGN_OR_RETURN(d.max_pfn, NumberAttr(pool, "max_pfn"));
  if (d.page_size != 4096) {
    return absl::DataLossError(absl::StrCat(pool.path(), ": page size ", d.page_size,
                                            " is not x86_64's 4096"));
  }
  if (!base::CheckedMul(d.max_pfn, d.page_size)) {
    return absl::DataLossError(absl::StrCat(pool.path(), ": max_pfn ", Hex(d.max_pfn),
                                            " is beyond any physical address"));
  }
  return d;
}

// The runs of pages the dump holds, from its page bitmap. The walk makes two bitmap calls
// per run, and the runs are bounded by kMaxRuns.
absl::StatusOr<std::vector<mem::Segment>> PresentRuns(
    ContextPool& pool, const DumpShape& d, std::shared_ptr<const io::ByteSource> source) {
  kdump_attr_t attr;
  kdump_status s = kdump_get_attr(pool.main(), KDUMP_ATTR_FILE_PAGEMAP, &attr);
  if (s != KDUMP_OK || attr.type != KDUMP_BITMAP) {
    return KdumpError(pool.main(), s, pool.path(), "read the page bitmap");
  }
  kdump_bmp_t* bmp = attr.val.bitmap;
  std::vector<mem::Segment> runs;
  kdump_addr_t pfn = 0;
  while (pfn < d.max_pfn) {
    kdump_addr_t first = pfn;
    if (kdump_bmp_find_set(bmp, &first) != KDUMP_OK || first >= d.max_pfn) break;
    kdump_addr_t last = first;
    if (kdump_bmp_find_clear(bmp, &last) != KDUMP_OK || last > d.max_pfn) last = d.max_pfn;
    if (last <= first) break;  // a bitmap that does not move forward ends the walk
    if (runs.size() == kMaxRuns) {
      return absl::UnimplementedError(absl::StrCat(
          pool.path(), ": the dump holds more than ", kMaxRuns,
          " separate runs of pages; kcorefs serves at most that many segments per view "
          "(write the dump with a lower -d level)"));
    }
    uint64_t bytes = (last - first) * d.page_size;
    runs.push_back({first * d.page_size, bytes, bytes, source, first * d.page_size});
    pfn = last;
  }
  if (runs.empty()) {
    return absl::DataLossError(absl::StrCat(pool.path(), ": the page bitmap holds no pages"));
  }
  return runs;
}

// `runs` without the physical ranges of `cut` (sorted, disjoint), split where needed.
std::vector<mem::Segment> WithoutRanges(const std::vector<mem::Segment>& runs,
                                        const std::vector<std::pair<uint64_t, uint64_t>>& cut) {
  std::vector<mem::Segment> out;
  size_t c = 0;
  for (const mem::Segment& r : runs) {
    uint64_t at = r.start;
    while (c < cut.size() && cut[c].second <= at) ++c;
    for (size_t k = c; at < r.end(); ++k) {
      const uint64_t stop = k < cut.size() ? std::min(cut[k].first, r.end()) : r.end();
      if (stop > at) out.push_back({at, stop - at, stop - at, r.source, r.source_offset + (at - r.start)});
      if (k >= cut.size() || cut[k].first >= r.end()) break;
      at = std::max(at, cut[k].second);
    }
  }
  return out;
}

// A copy cut short: the pages whose bytes are past its end are left out of the views, and
// the cut is the first warning (what fails later follows from it).
absl::Status TakeTruncation(const std::string& path, const io::ByteSource& file,
                            const DiskdumpSummary& summary, const DumpShape& d,
                            std::vector<mem::Segment>& runs, SnapshotParts& parts) {
  KCOREFS_ASSIGN_OR_RETURN(std::optional<Truncation> t, FindTruncation(file, summary));
  if (!t) return absl::OkStatus();
  kernel::Truncation k{path, t->needed, t->have, {}};
  for (const auto& [first, last] : t->missing) k.missing_phys.push_back({first * d.page_size, last * d.page_size});
  runs = WithoutRanges(runs, k.missing_phys);
  parts.warnings.insert(parts.warnings.begin(), {
      absl::StrCat(k.Headline(), " (its page descriptors reference ", Hex(t->needed), ", the file ends at ",
                   Hex(t->have), "); serving what is there"),
      absl::StrCat(path, ": ", t->missing_pages, " dumped pages in ", t->missing.size(),
                   " runs (the first at physical ", Hex(k.missing_phys.front().first),
                   ") have their bytes past the end of the file; they are left out of the views "
                   "(consumers report them as not present; no read returns zeros for them)")});
  parts.hints.truncation = std::move(k);
  return absl::OkStatus();
}

// NT_PRSTATUS of each CPU, as libkdumpfile found them in the dump's notes.
void ReadCpus(ContextPool& pool, kernel::KernelHints& hints, std::vector<std::string>& warnings) {
  kdump_num_t n = 0;
  if (kdump_get_number_attr(pool.main(), KDUMP_ATTR_NUM_CPUS, &n) != KDUMP_OK) return;
  for (kdump_num_t cpu = 0; cpu < n && cpu < 8192; ++cpu) {
    std::string key = absl::StrCat("cpu.", cpu, ".PRSTATUS");
    std::optional<std::string> desc = BlobAttr(pool, key.c_str());
    if (!desc) continue;
    auto state = kernel::DecodePrstatus(*hints.arch, *desc, static_cast<int>(cpu));
    if (!state.ok()) {
      warnings.push_back(absl::StrCat(pool.path(), ": CPU ", cpu, "'s NT_PRSTATUS is not used: ",
                                      state.status().message()));
      continue;
    }
    if (state->HasRegisters()) hints.cpus.push_back(std::move(*state));
  }
}

absl::StatusOr<std::unique_ptr<Backend>> OpenKdump(const std::string& path,
                                                   const BackendConfig& config) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  KCOREFS_ASSIGN_OR_RETURN(auto pool, ContextPool::Open(path));
  KCOREFS_ASSIGN_OR_RETURN(DumpShape shape, ReadShape(*pool));
  ContextPool& p = *pool;
  auto source = std::make_shared<KdumpSource>(std::move(pool), shape.max_pfn * shape.page_size);

  SnapshotParts parts;
  KCOREFS_ASSIGN_OR_RETURN(std::vector<mem::Segment> runs, PresentRuns(p, shape, source));
  // The dump's own layout, read once: the summary for `info`, and a copy cut short.
  KCOREFS_ASSIGN_OR_RETURN(auto file, io::FileByteSource::Open(path));
  KCOREFS_ASSIGN_OR_RETURN(std::optional<DiskdumpSummary> sum, ReadDiskdumpSummary(*file));
  if (sum) KCOREFS_RETURN_IF_ERROR(TakeTruncation(path, *file, *sum, shape, runs, parts));
  if (runs.empty()) {
    return absl::DataLossError(absl::StrCat(parts.hints.truncation->Headline(), ": no page is left"));
  }
  KCOREFS_ASSIGN_OR_RETURN(parts.map, mem::MemoryMap::Create(std::move(runs), {}));
  parts.hints.arch = &kernel::ArchX86_64();
  if (std::optional<std::string> text = BlobAttr(p, "linux.vmcoreinfo.raw")) {
    parts.hints.vmcoreinfo = std::move(text);
    parts.hints.vmcoreinfo_origin = "the dump's VMCOREINFO";
  }
  ReadCpus(p, parts.hints, parts.warnings);
  parts.format = absl::StrCat(shape.description.empty() ? shape.format : shape.description,
                              " (libkdumpfile)");
  if (sum) {
    absl::StrAppend(&parts.format, ": ", sum->compression, " compression",
                    sum->dump_level >= 0 ? absl::StrCat(", dump level ", sum->dump_level) : "",
                    ", ", sum->dumped, " of ", sum->pages, " pages dumped");
  }
  parts.mtime = st.st_mtim.tv_sec;
  KCOREFS_ASSIGN_OR_RETURN(auto snap, BuildSnapshot(path, std::move(parts), config.derive));
  return std::unique_ptr<Backend>(
      new StaticBackend("kdump", path, Capabilities{}, std::move(source), std::move(snap)));
}

class KdumpFactory final : public BackendFactory {
 public:
  absl::string_view name() const override { return "kdump"; }
  absl::string_view summary() const override {
    return "a kdump-compressed (diskdump) file from makedumpfile, read with libkdumpfile";
  }
  int Probe(const ProbeInput& in) const override {
    bool file = in.kind == ProbeInput::Kind::kRegular || in.kind == ProbeInput::Kind::kBlockDevice;
    bool magic = absl::StartsWith(in.magic, "KDUMP   ") || absl::StartsWith(in.magic, "DISKDUMP");
    return file && magic ? 50 : 0;
  }
  absl::StatusOr<std::unique_ptr<Backend>> Open(const std::string& source,
                                                const BackendConfig& config) const override {
    return OpenKdump(source, config);
  }
};

KCOREFS_REGISTER_BACKEND(KdumpFactory);

}  // namespace
}  // namespace kcorefs::backends::kdump
