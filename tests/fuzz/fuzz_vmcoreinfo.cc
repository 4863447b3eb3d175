// Fuzz target: VMCOREINFO text (a note, /sys/kernel/vmcoreinfo's note, --vmcoreinfo FILE)
// and the scan that looks for the kernel's vmcoreinfo_note in physical memory.
//
// The whole input is parsed as the text; text that parses must parse again as served, and
// every getter must be safe on it. The input is also physical memory for the scan:
//   [0, size)          the input itself (a note at a page boundary is found);
//   a second segment   right after it, whose size and backed size come from the input's
//                      last 16 bytes (up to 2^52 bytes), backed by the same short buffer:
//                      a map that claims more data than its source holds, as a device
//                      with holes or a /proc/kcore that shrank under the reader does.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kcorefs/base/checked_math.h"
#include "kcorefs/kernel/arch.h"
#include "kcorefs/kernel/vmcoreinfo.h"
#include "kcorefs/mem/memory_map.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using kcorefs::kernel::Vmcoreinfo;

void ExerciseText(absl::string_view text) {
  auto v = Vmcoreinfo::Parse(text);
  if (!v.ok()) return;
  KCOREFS_FUZZ_CHECK(!v->text().empty() && v->text().back() == '\n');
  absl::Span<const absl::string_view> required =
      kcorefs::kernel::ArchX86_64().required_vmcoreinfo_keys;
  for (absl::string_view key : required) {
    (void)v->Get(key);
    (void)v->GetDecimal(key);
    (void)v->GetHex(key);
  }
  for (const char* key : {"NUMBER(pgtable_l5_enabled)", "NUMBER(sme_mask)",
                          "NUMBER(page_offset_base)", "SYMBOL(_stext)"}) {
    (void)v->GetDecimal(key);
    (void)v->GetHex(key);
  }
  // The first key of the text, whatever it is, must be found. (Text of blank lines only
  // parses to no keys; DeriveKernelFacts then names the missing ones.)
  absl::string_view first = v->text();
  size_t start = first.find_first_not_of('\n');
  if (start != absl::string_view::npos) {
    first = first.substr(start);
    size_t eq = first.find('=');
    KCOREFS_FUZZ_CHECK(eq != absl::string_view::npos && eq > 0);
    KCOREFS_FUZZ_CHECK(v->Get(first.substr(0, eq)).has_value());
  }
  (void)v->Missing(required);
  Vmcoreinfo served = *v;
  served.AppendIfMissing("NUMBER(page_offset_base)", "-1");
  KCOREFS_FUZZ_CHECK(served.Has("NUMBER(page_offset_base)"));
  // What kcorefs serves must be accepted by kcorefs.
  auto again = Vmcoreinfo::Parse(served.text());
  KCOREFS_FUZZ_CHECK(again.ok());
  KCOREFS_FUZZ_CHECK(again->text() == served.text());
}

void ExerciseScan(const uint8_t* data, size_t size) {
  constexpr uint64_t kPage = 4096;
  kcorefs::fuzz::InputHeader tail(size >= 16 ? data + size - 16 : data, size >= 16 ? 16 : 0);
  uint64_t extra = tail.U64() & ((uint64_t{1} << 52) - 1);
  uint64_t extra_data = tail.U64() & ((uint64_t{1} << 52) - 1);
  if (extra_data > extra) extra_data = extra;
  auto mem = std::make_shared<kcorefs::io::BufferByteSource>(
      "fuzz-mem", std::string(reinterpret_cast<const char*>(data), size));
  std::vector<kcorefs::mem::Segment> segs;
  segs.push_back({0, size, size, mem, 0});
  uint64_t second = kcorefs::base::AlignUp(size, kPage) + kPage;
  segs.push_back({second, extra, extra_data, mem, 0});
  auto map = kcorefs::mem::MemoryMap::Create(std::move(segs), {});
  KCOREFS_FUZZ_CHECK(map.ok());
  uint64_t at = 0;
  kcorefs::kernel::VmcoreinfoScanOptions opts;
  opts.page_size = kPage;
  auto hit = kcorefs::kernel::ScanForVmcoreinfo(*map, opts);
  if (!hit.ok() || !hit->has_value()) return;
  at = (*hit)->paddr;
  KCOREFS_FUZZ_CHECK(at % kPage == 0);
  KCOREFS_FUZZ_CHECK(Vmcoreinfo::Parse((*hit)->text).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ExerciseText(absl::string_view(reinterpret_cast<const char*>(data), size));
  ExerciseScan(data, size);
  return 0;
}
