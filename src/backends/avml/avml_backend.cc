// avml: AVML's compressed memory images (its default output: LiME-like block headers of
// version 2 with snappy-compressed blocks). The file holds physical ranges and nothing else:
// no VMCOREINFO (give --vmcoreinfo FILE or kcorefs scans the memory for the kernel's note)
// and no registers; x86_64, as AVML runs there and records no architecture. AVML leaves
// all-zero blocks out, so they are not present, not zeros. AVML's uncompressed output is a
// LiME image (the lime backend). docs/backends/kcorefs-avml-backend.7.md.
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backends/avml/avml_index.h"
#include "backends/avml/avml_source.h"
#include "backends/common/snapshot_builder.h"
#include "backends/common/static_backend.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/kernel/arch.h"

namespace kcorefs::backends::avml {
namespace {

absl::StatusOr<std::unique_ptr<Backend>> OpenAvml(const std::string& path,
                                                  const BackendConfig& config) {
  KCOREFS_ASSIGN_OR_RETURN(auto file, io::FileByteSource::Open(path));
  struct stat st;
  if (::fstat(*file->fd(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  KCOREFS_ASSIGN_OR_RETURN(AvmlIndex index, ReadAvmlIndex(*file));
  const size_t nblocks = index.blocks.size(), nchunks = index.chunks.size();
  std::vector<Block> blocks = index.blocks;
  std::vector<std::string> warnings = std::move(index.warnings);
  auto memory = std::make_shared<AvmlSource>(file, std::move(index));
  std::vector<mem::Segment> segs;
  segs.reserve(blocks.size());
  for (const Block& b : blocks) segs.push_back({b.paddr, b.size, b.size, memory, b.offset});
  SnapshotParts parts;
  KCOREFS_ASSIGN_OR_RETURN(parts.map, mem::MemoryMap::Create(std::move(segs), {}));
  parts.hints.arch = &kernel::ArchX86_64();
  parts.warnings = std::move(warnings);
  parts.format = absl::StrCat("AVML compressed memory image (", nblocks, " blocks, ", nchunks,
                              " snappy chunks)");
  parts.mtime = st.st_mtim.tv_sec;
  KCOREFS_ASSIGN_OR_RETURN(auto snap, BuildSnapshot(path, std::move(parts), config.derive));
  // Counted on the file: bytes read from the source are compressed bytes.
  return std::unique_ptr<Backend>(new StaticBackend("avml", path, Capabilities{}, std::move(file),
                                                    std::move(snap)));
}

class AvmlFactory final : public BackendFactory {
 public:
  absl::string_view name() const override { return "avml"; }
  absl::string_view summary() const override {
    return "an AVML compressed memory image (snappy blocks; AVML's default output)";
  }
  int Probe(const ProbeInput& in) const override {
    bool file = in.kind == ProbeInput::Kind::kRegular || in.kind == ProbeInput::Kind::kBlockDevice;
    return file && absl::StartsWith(in.magic, absl::string_view("AVML\x02\0\0\0", 8)) ? 50 : 0;
  }
  absl::StatusOr<std::unique_ptr<Backend>> Open(const std::string& source,
                                                const BackendConfig& config) const override {
    return OpenAvml(source, config);
  }
};

KCOREFS_REGISTER_BACKEND(AvmlFactory);

}  // namespace
}  // namespace kcorefs::backends::avml
