// Fuzz target: a kmemdump/meminspect coreimage header region (md_KELF1.BIN, or the start of
// a minidump.elf), then the coreimage view built from what it parsed, with every region
// backed by the input itself. The parse must stay within the input; the view must be at
// least its header, its extents sorted and disjoint, and reads at its ends must succeed.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backends/kmemdump/region_parsers.h"
#include "kcorefs/elf/core_view.h"
#include "kcorefs/kernel/arch.h"
#include "tests/fuzz/fuzz_check.h"

using kcorefs::backends::kmemdump::ParseHeaderRegion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto exact = ParseHeaderRegion(bytes, false, "fuzz");
  auto h = ParseHeaderRegion(bytes, true, "fuzz");
  if (exact.ok()) KCOREFS_FUZZ_CHECK(h.ok() && exact->size == size);
  if (!h.ok()) return 0;
  KCOREFS_FUZZ_CHECK(h->size <= size);
  KCOREFS_FUZZ_CHECK(h->size + h->vmcoreinfo_size == h->note_offset + h->note_size);
  KCOREFS_FUZZ_CHECK(h->note_offset >= h->phoff);
  KCOREFS_FUZZ_CHECK(h->loads.size() <= (size - h->phoff) / 56);

  auto input = std::make_shared<kcorefs::io::BufferByteSource>("fuzz", std::string(bytes));
  auto snap = std::make_shared<kcorefs::backends::Snapshot>();
  snap->epoch = 1;
  snap->facts.arch = &kcorefs::kernel::ArchX86_64();
  auto image = std::make_shared<kcorefs::backends::RegionImage>();
  image->e_machine = h->e_machine;
  image->header = std::string(bytes.substr(0, h->size));
  image->phdr_slots = h->phdr_slots;
  image->section_names = (size & 1) != 0;
  image->vmcoreinfo = {"vmcoreinfo", 2, 0, 0, h->vmcoreinfo_size,
                       std::min<uint64_t>(h->vmcoreinfo_size, size), 0, input, 0};
  for (const auto& l : h->loads) {
    // Each region backed by the input's first bytes, up to its size: short ones are holes.
    uint64_t data_size = std::min<uint64_t>(l.memsz, size);
    image->regions.push_back({"r", l.index, l.vaddr, l.paddr, l.memsz, data_size, l.flags,
                              l.index % 3 == 0 ? nullptr : input, 0});
  }
  snap->region_image = image;
  auto view = kcorefs::elf::CoreView::Build("coreimage", snap);
  KCOREFS_FUZZ_CHECK(view.ok());
  const auto& v = **view;
  KCOREFS_FUZZ_CHECK(v.size() >= v.header().size() || v.header().size() > 0);
  uint64_t last_end = 0;
  for (const auto& e : v.extents()) {
    KCOREFS_FUZZ_CHECK(e.length > 0 || e.offset == 0);
    KCOREFS_FUZZ_CHECK(e.offset >= last_end);
    KCOREFS_FUZZ_CHECK(e.offset + e.length >= e.offset);
    last_end = e.offset + e.length;
  }
  KCOREFS_FUZZ_CHECK(last_end <= v.size());
  uint8_t buf[256];
  for (uint64_t at : {uint64_t{0}, v.size() > 256 ? v.size() - 256 : 0}) {
    auto n = v.ReadAt(at, absl::MakeSpan(buf, sizeof(buf)));
    KCOREFS_FUZZ_CHECK(n.ok() && *n == std::min<uint64_t>(sizeof(buf), v.size() - at));
  }
  return 0;
}
