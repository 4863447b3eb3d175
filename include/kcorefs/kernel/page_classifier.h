// PageClassifier: which physical pages hold user data, told from the kernel's struct pages
// (the memory map of SPARSEMEM_VMEMMAP) with the offsets and flag numbers VMCOREINFO
// exports. `-o redact=user` (docs/security.md, "Redaction") serves the pages it names as
// holes. Only the struct pages are read, never the pages themselves.
//
// A page is hidden when its struct page (its compound head's, for a tail page) says:
//  - anonymous memory: page.mapping has PAGE_MAPPING_ANON (bit 0) set (KSM pages too);
//  - page cache or swap cache: PG_lru or PG_swapcache in page.flags (file pages mapped or
//    cached for processes, anonymous pages on the LRU);
//  - a hugetlb page: the head's compound destructor is HUGETLB_PAGE_DTOR (when exported);
//  - free: the head of a free buddy block (page._mapcount == PAGE_BUDDY_MAPCOUNT_VALUE),
//    with the 2^order pages of its block (page.private), since a free page may still hold
//    what its last user wrote;
//  - unreadable: its struct page is not mapped or not in the source (it cannot be told
//    apart, so it is hidden rather than guessed).
// Slab pages, page tables, the kernel image, reserved and other kernel-owned pages stay.
#ifndef KCOREFS_KERNEL_PAGE_CLASSIFIER_H_
#define KCOREFS_KERNEL_PAGE_CLASSIFIER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kcorefs/kernel/page_table_walker.h"
#include "kcorefs/kernel/vmcoreinfo.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::kernel {

// What a struct page looks like in this kernel, all from VMCOREINFO.
struct PageLayout {
  uint64_t page_size = 4096;       // PAGESIZE
  uint64_t struct_size = 0;        // SIZE(page)
  uint64_t off_flags = 0;          // OFFSET(page.flags)
  uint64_t off_mapping = 0;        // OFFSET(page.mapping)
  uint64_t off_mapcount = 0;       // OFFSET(page._mapcount)
  uint64_t off_private = 0;        // OFFSET(page.private)
  uint64_t off_compound_head = 0;  // OFFSET(page.compound_head), else OFFSET(page.lru)
  int pg_lru = 0;                  // NUMBER(PG_lru)
  int pg_swapcache = 0;            // NUMBER(PG_swapcache)
  int64_t buddy_mapcount = 0;      // NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)
  // Optional: hugetlb pages are told by their compound destructor (page[1]).
  std::optional<uint64_t> off_compound_dtor;  // OFFSET(page.compound_dtor)
  std::optional<int64_t> hugetlb_dtor;        // NUMBER(HUGETLB_PAGE_DTOR)

  // Fails with FailedPrecondition naming every entry VMCOREINFO lacks, and saying that
  // redaction is refused rather than served unredacted.
  static absl::StatusOr<PageLayout> FromVmcoreinfo(const Vmcoreinfo& vmcoreinfo);
};

enum class PageClass {
  kKernel,      // served
  kUser,        // anonymous, page cache, swap cache, hugetlb: hidden
  kFree,        // a free buddy block: hidden
  kUnreadable,  // no struct page to read: hidden
};

// One struct page, read as the layout says. `bytes` holds at least layout.struct_size.
struct PageStruct {
  uint64_t flags = 0;
  uint64_t mapping = 0;
  int32_t mapcount = 0;
  uint64_t private_value = 0;
  uint64_t compound_head = 0;
  static PageStruct Parse(const PageLayout& layout, absl::Span<const uint8_t> bytes);
  // A tail page of a compound page: bit 0 of compound_head; the head's struct page
  // address is compound_head - 1.
  bool IsTail() const { return (compound_head & 1) != 0; }
  bool IsBuddy(const PageLayout& layout) const {
    return static_cast<int64_t>(mapcount) == layout.buddy_mapcount;
  }
};

// The class of a head (or order-0) page from its own struct page alone; `second` is the
// struct page after it (page[1], where the compound destructor lives), or empty.
PageClass ClassifyHead(const PageLayout& layout, const PageStruct& page,
                       absl::Span<const uint8_t> second);

// Physical page ranges [first, second) in bytes, sorted and disjoint.
using PhysRanges = std::vector<std::pair<uint64_t, uint64_t>>;

struct Classification {
  PhysRanges hidden;          // every page to serve as a hole, merged
  uint64_t user_pages = 0;
  uint64_t free_pages = 0;
  uint64_t unreadable_pages = 0;
  uint64_t hidden_pages() const { return user_pages + free_pages + unreadable_pages; }
};

class PageClassifier {
 public:
  // Finds the memory map: vmemmap_base from NUMBER(vmemmap_base)/SYMBOL(vmemmap_base)
  // when present, else from the first present mem_section's section_mem_map (under
  // SPARSEMEM_VMEMMAP it encodes vmemmap_base itself). `map` must outlive the classifier.
  static absl::StatusOr<std::unique_ptr<PageClassifier>> Create(
      const mem::MemoryMap& map, const Vmcoreinfo& vmcoreinfo,
      std::unique_ptr<PageTableWalker> walker);
  // For tests: a known layout and vmemmap base.
  PageClassifier(const mem::MemoryMap& map, PageLayout layout, uint64_t vmemmap_base,
                 std::unique_ptr<PageTableWalker> walker)
      : map_(map), layout_(layout), vmemmap_base_(vmemmap_base), walker_(std::move(walker)) {}

  // Classifies every page of [paddr, paddr + size) (page-aligned outward), reading the
  // struct pages in batches of up to `batch_bytes` (aligned to a power of two pfns). An
  // I/O error (not a fault) fails. Thread-safe.
  absl::StatusOr<Classification> Classify(uint64_t paddr, uint64_t size,
                                          uint64_t batch_bytes = 1 << 20) const;
  // Classifies every page the map's physical segments hold.
  absl::StatusOr<Classification> ClassifyMap() const;

  const PageLayout& layout() const { return layout_; }
  uint64_t vmemmap_base() const { return vmemmap_base_; }

 private:
  // Reads the struct pages of pfns [first, first + count) into `out` (count *
  // struct_size bytes); pfns whose struct page cannot be read are set in `unreadable`.
  absl::Status ReadStructs(uint64_t first, uint64_t count, std::vector<uint8_t>& out,
                           std::vector<bool>& unreadable) const;
  // The class of the head page whose struct page is at `head_vaddr` (outside the batch).
  absl::StatusOr<PageClass> ClassifyRemoteHead(uint64_t head_vaddr) const;
  // Reads kernel-virtual [vaddr, vaddr + out.size()) through the page tables: NotFound
  // for an unmapped page, the map's fault for a page the source does not hold.
  absl::Status ReadVirt(uint64_t vaddr, absl::Span<uint8_t> out) const;

  const mem::MemoryMap& map_;
  PageLayout layout_;
  uint64_t vmemmap_base_;
  std::unique_ptr<PageTableWalker> walker_;
};

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_PAGE_CLASSIFIER_H_
