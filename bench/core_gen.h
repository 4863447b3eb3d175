// Benchmark sources: kdump-shaped x86_64 ELF cores written straight to a file, either with
// real bytes (a pattern of each byte's physical address) or as holes (a sparse file). They
// carry a valid VMCOREINFO note and the kdump layout (kernel-image PT_LOAD in the
// __START_KERNEL_map window, RAM PT_LOADs at direct-map addresses), so kcorefs derives
// every fact from the headers and needs no page tables. Independent of src/.
#ifndef KCOREFS_BENCH_CORE_GEN_H_
#define KCOREFS_BENCH_CORE_GEN_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kcorefs::bench {

struct RamRange {
  uint64_t paddr;
  uint64_t size;
};

struct CoreSpec {
  std::vector<RamRange> ram;  // sorted, disjoint
  uint64_t image_size = 16ull << 20;  // kernel image PT_LOAD, at the start of RAM
  bool fill = true;                   // real bytes; false: the data is one big hole
};

// The layout every generated core uses.
inline constexpr uint64_t kKaslr = 0x1e000000;
inline constexpr uint64_t kDirectMap = 0xffff9c0000000000ull;
inline constexpr uint64_t kImagePaddr = 0x1000000;

// Writes the core; returns an empty string or an error message.
std::string WriteCore(const std::string& path, const CoreSpec& spec);

// The three benchmark sources.
CoreSpec KdumpSpec(uint64_t ram_bytes);      // one RAM range of ram_bytes, real bytes
CoreSpec SegmentsSpec(uint64_t count);       // `count` 4 KiB RAM ranges 8 KiB apart, holes
CoreSpec SparseSpec(uint64_t total_bytes);   // 8 RAM ranges adding up to total_bytes, holes

// The byte at physical address paddr in a filled core (for checks).
uint8_t PatternByte(uint64_t paddr);

}  // namespace kcorefs::bench

#endif  // KCOREFS_BENCH_CORE_GEN_H_
