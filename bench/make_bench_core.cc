// Writes one benchmark source (bench/core_gen.h).
//   make_bench_core kdump MIB FILE       kdump-shaped core with MIB MiB of real RAM bytes
//   make_bench_core segments N FILE      N non-adjacent 4 KiB RAM PT_LOADs (sparse file)
//   make_bench_core sparse GIB FILE      GIB GiB of RAM in 8 PT_LOADs, all holes
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/core_gen.h"

int main(int argc, char** argv) {
  using namespace kcorefs::bench;
  if (argc != 4) {
    std::fprintf(stderr, "usage: make_bench_core kdump MIB|segments N|sparse GIB FILE\n");
    return 2;
  }
  std::string kind = argv[1];
  uint64_t n = std::strtoull(argv[2], nullptr, 10);
  CoreSpec spec;
  if (kind == "kdump") {
    spec = KdumpSpec(n << 20);
  } else if (kind == "segments") {
    spec = SegmentsSpec(n);
  } else if (kind == "sparse") {
    spec = SparseSpec(n << 30);
  } else {
    std::fprintf(stderr, "make_bench_core: unknown kind %s\n", argv[1]);
    return 2;
  }
  std::string err = WriteCore(argv[3], spec);
  if (!err.empty()) {
    std::fprintf(stderr, "make_bench_core: %s\n", err.c_str());
    return 1;
  }
  return 0;
}
