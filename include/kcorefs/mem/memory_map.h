// MemoryMap: a kernel's physical and virtual address ranges, each backed by a ByteSource,
// by zeros, or by nothing. It splits reads at segment edges and decides the hole policy:
// an address no segment holds is a fault; the tail of a segment past its data is zeros.
// It knows nothing of ELF or FUSE.
#ifndef KCOREFS_MEM_MEMORY_MAP_H_
#define KCOREFS_MEM_MEMORY_MAP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::mem {

// "No physical address", as /proc/kcore writes it for vmalloc, modules and vmemmap.
inline constexpr uint64_t kNoAddr = ~uint64_t{0};

struct Segment {
  uint64_t start = 0;      // first address (physical or virtual, by the list it is in)
  uint64_t size = 0;       // bytes of address space
  uint64_t data_size = 0;  // bytes backed by `source`; [data_size, size) reads as zeros
  std::shared_ptr<const io::ByteSource> source;  // null: all zeros
  uint64_t source_offset = 0;
  uint64_t end() const { return start + size; }
};

// A contiguous piece of a resolved range: `length` bytes from `source` at `source_offset`,
// or zeros when `source` is null.
struct Piece {
  uint64_t length = 0;
  const io::ByteSource* source = nullptr;
  uint64_t source_offset = 0;
};

class MemoryMap {
 public:
  MemoryMap() = default;
  // Sorts each list by start. Fails, naming both ranges, when two segments of one list
  // overlap, wrap around the address space, or claim more data than they span.
  static absl::StatusOr<MemoryMap> Create(std::vector<Segment> physical,
                                          std::vector<Segment> virtual_only);

  const std::vector<Segment>& physical() const { return physical_; }
  // Ranges reachable only virtually (vmalloc, modules, vmemmap from a kcore source).
  const std::vector<Segment>& virtual_only() const { return virtual_; }

  // Reads physical memory. A byte outside every segment is a FaultError.
  absl::Status ReadPhys(uint64_t paddr, absl::Span<uint8_t> out) const;
  absl::StatusOr<uint64_t> ReadPhysU64(uint64_t paddr) const;
  // Calls `fn` for each piece of [paddr, paddr + size), in order. Fails with a FaultError
  // at the first address no segment holds.
  absl::Status ResolvePhys(uint64_t paddr, uint64_t size,
                           const std::function<void(const Piece&)>& fn) const;
  // Index of the segment holding `paddr`, or -1.
  int FindPhys(uint64_t paddr) const;
  uint64_t TotalPhysBytes() const;
  // This map with the physical ranges in `holes` (sorted, disjoint [first, second)) cut
  // out of its segments: reads there fault, as in a filtered dump, and the views leave
  // them out of their PT_LOADs. Virtual-only segments are kept as they are.
  MemoryMap WithoutPhys(absl::Span<const std::pair<uint64_t, uint64_t>> holes) const;

 private:
  std::vector<Segment> physical_;
  std::vector<Segment> virtual_;
};

}  // namespace kcorefs::mem

#endif  // KCOREFS_MEM_MEMORY_MAP_H_
