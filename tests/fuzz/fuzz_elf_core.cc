// Fuzz target: an ELF kernel core, as the dumpfile and live backends read one. When the
// reader accepts the input, the whole open path runs on it too: the kernel facts (the
// VMCOREINFO scan and both page-table walks see the hostile memory map), every view's
// header and extent table, and reads at the edges of each view's extents.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "backends/common/elf_core.h"
#include "backends/common/snapshot_builder.h"
#include "kcorefs/elf/core_view.h"
#include "kcorefs/io/byte_source.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using kcorefs::elf::CoreView;

// CoreView::ReadAt's binary search needs extents sorted by offset, disjoint, and not
// wrapping past 2^64 (so their ends are sorted too).
void CheckExtents(const CoreView& view) {
  uint64_t prev_end = 0;
  for (const kcorefs::elf::Extent& e : view.extents()) {
    KCOREFS_FUZZ_CHECK(e.length > 0);
    KCOREFS_FUZZ_CHECK(e.offset + e.length > e.offset);
    KCOREFS_FUZZ_CHECK(e.offset >= prev_end);
    prev_end = e.end();
  }
  KCOREFS_FUZZ_CHECK(!view.extents().empty() && view.extents()[0].offset == 0);
}

void ReadView(const CoreView& view) {
  uint8_t buf[256];
  std::vector<uint64_t> offsets = {0, view.header().size() > 16 ? view.header().size() - 16 : 0};
  if (view.size() >= sizeof(buf)) offsets.push_back(view.size() - sizeof(buf));
  offsets.push_back(view.size());
  // Both edges of the first extents: a read that starts before an extent, one that ends
  // inside it and one that crosses its end.
  size_t n = 0;
  for (const kcorefs::elf::Extent& e : view.extents()) {
    if (++n > 32) break;
    offsets.push_back(e.offset > 8 ? e.offset - 8 : 0);
    offsets.push_back(e.end() > 8 ? e.end() - 8 : 0);
    // An extent's first bytes read through the view are its source's bytes.
    if (e.offset >= view.size()) continue;
    uint8_t want[16], got[16];
    size_t k = std::min<uint64_t>({sizeof(want), e.length, view.size() - e.offset});
    if (!e.source->ReadAt(e.source_offset, absl::MakeSpan(want, k)).ok()) continue;
    auto r = view.ReadAt(e.offset, absl::MakeSpan(got, k));
    KCOREFS_FUZZ_CHECK(r.ok() && *r == k && std::memcmp(want, got, k) == 0);
  }
  for (uint64_t off : offsets) {
    auto got = view.ReadAt(off, absl::MakeSpan(buf));
    if (!got.ok()) continue;
    KCOREFS_FUZZ_CHECK(*got <= sizeof(buf));
    KCOREFS_FUZZ_CHECK(off >= view.size() ? *got == 0 : *got == std::min<uint64_t>(sizeof(buf), view.size() - off));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = std::make_shared<kcorefs::io::BufferByteSource>(
      "fuzz.core", std::string(reinterpret_cast<const char*>(data), size));
  auto core = kcorefs::backends::ReadElfCore(file, file->size());
  if (!core.ok()) return 0;
  KCOREFS_FUZZ_CHECK(!core->map.physical().empty());
  kcorefs::backends::SnapshotParts parts{std::move(core->map), std::move(core->hints),
                                         std::move(core->warnings), "fuzz", 1, 0};
  auto snap = kcorefs::backends::BuildSnapshot("fuzz.core", std::move(parts), {});
  if (!snap.ok()) return 0;
  for (const kcorefs::elf::ViewType* type : kcorefs::elf::ViewTypes()) {
    auto view = CoreView::Build(type->name, *snap);
    if (!view.ok()) continue;
    KCOREFS_FUZZ_CHECK((*view)->size() >= (*view)->header().size());
    CheckExtents(**view);
    ReadView(**view);
  }
  return 0;
}
