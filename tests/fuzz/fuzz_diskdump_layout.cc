// Fuzz target: a kdump-compressed file's own layout (src/backends/kdump/diskdump_layout.cc):
// its summary, and the pages whose bytes are past its end. The dumped pages are at most the
// pages; the runs of cut pages are sorted, disjoint and non-empty, and count the pages it
// says; it never reads outside the input.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backends/kdump/diskdump_layout.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kcorefs::io::BufferByteSource file("fuzz.kdump", std::string(reinterpret_cast<const char*>(data), size));
  auto sum = kcorefs::backends::kdump::ReadDiskdumpSummary(file);
  if (!sum.ok() || !sum->has_value()) return 0;
  KCOREFS_FUZZ_CHECK((*sum)->dumped <= (*sum)->pages);
  auto t = kcorefs::backends::kdump::FindTruncation(file, **sum);
  if (!t.ok() || !t->has_value()) return 0;
  uint64_t pages = 0, last = 0;
  for (const auto& [first, end] : (*t)->missing) {
    KCOREFS_FUZZ_CHECK(first < end && first >= last);
    pages += end - first;
    last = end;
  }
  KCOREFS_FUZZ_CHECK(pages == (*t)->missing_pages && pages > 0);
  KCOREFS_FUZZ_CHECK((*t)->have == size);
  return 0;
}
