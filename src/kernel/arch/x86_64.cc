// x86_64: the address space of arch/x86 (Documentation/arch/x86/x86_64/mm.rst) and how
// to find the parts of it VMCOREINFO does not state.
#include "kernel/arch/x86_64.h"

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kernel/arch/x86_64_page_table.h"

namespace kcorefs::kernel::x86_64 {
namespace {

using base::Hex;

// arch/x86/include/asm/page_64_types.h: __START_KERNEL_map and KERNEL_IMAGE_SIZE (1 GiB
// with KASLR): the kernel image's own mapping.
constexpr uint64_t kKernelMapStart = 0xffffffff80000000ull;
constexpr uint64_t kKernelMapSize = 0x40000000ull;
// Where the kernel image starts when VMCOREINFO has no SYMBOL(_stext): 16 MiB into the
// map (CONFIG_PHYSICAL_START), moved by KASLR.
constexpr uint64_t kDefaultTextOffset = 0x1000000;
// __PAGE_OFFSET_BASE_L4 / _L5: the lowest direct-map base with 4- and 5-level paging;
// arch/x86/mm/kaslr.c randomises it upward from there, in PUD_SIZE steps, below the
// cpu_entry_area.
constexpr uint64_t kDirectMapMinL4 = 0xffff888000000000ull;
constexpr uint64_t kDirectMapMinL5 = 0xff11000000000000ull;
constexpr uint64_t kDirectMapMax = 0xfffffe0000000000ull;
constexpr uint64_t kDirectMapAlign = 0x40000000ull;
// The kernel image is mapped with 2 MiB pages from _text (arch/x86/kernel/head64.c
// cleanup_highmap() removes everything before _text and after _brk_end).
constexpr uint64_t kImageAlign = 2ull << 20;

bool InKernelMap(uint64_t vaddr) {
  return vaddr >= kKernelMapStart && vaddr - kKernelMapStart < kKernelMapSize;
}

// The values the derivation reads, parsed once.
struct Keys {
  uint64_t kaslr_offset;
  int64_t phys_base;
  uint64_t top_pgt;  // SYMBOL(init_top_pgt)
  std::optional<uint64_t> stext;
  bool five_level;
  uint64_t sme_mask;
};

absl::StatusOr<Keys> ReadKeys(const Vmcoreinfo& v, absl::string_view origin) {
  auto kaslr = v.GetHex("KERNELOFFSET");
  auto phys_base = v.GetDecimal("NUMBER(phys_base)");
  auto top = v.GetHex("SYMBOL(init_top_pgt)");
  if (!kaslr || !phys_base || !top) {
    return absl::InvalidArgumentError(absl::StrCat(
        "VMCOREINFO from ", origin,
        " has a malformed KERNELOFFSET, NUMBER(phys_base) or SYMBOL(init_top_pgt)"));
  }
  // The kcore view places each segment at vaddr - direct-map base, and the image again at
  // its link-time address (runtime - KERNELOFFSET). A corrupt KERNELOFFSET would wrap those
  // file offsets past 2^64 and the view would serve zeros in place of other segments'
  // bytes. KASLR moves the image by less than the image map's size.
  if (*kaslr >= kKernelMapSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "VMCOREINFO from ", origin, " has KERNELOFFSET=", Hex(*kaslr), ", beyond the ",
        Hex(kKernelMapSize), " bytes the kernel image can move"));
  }
  return Keys{*kaslr,
              *phys_base,
              *top,
              v.GetHex("SYMBOL(_stext)"),
              v.GetDecimal("NUMBER(pgtable_l5_enabled)").value_or(0) != 0,
              static_cast<uint64_t>(v.GetDecimal("NUMBER(sme_mask)").value_or(0))};
}

// init_top_pgt is a kernel-image symbol: its physical address is its offset in the
// image map plus phys_base.
uint64_t TopPaddr(const Keys& k) {
  return k.top_pgt - kKernelMapStart + static_cast<uint64_t>(k.phys_base);
}

// The direct-map base: the lowest mapped address of the randomisation window minus the
// physical address it maps (arch/x86/mm/kaslr.c places the direct map first).
absl::StatusOr<uint64_t> DirectMapFromPageTables(const PageTableWalker& pt, bool five_level) {
  uint64_t begin = five_level ? kDirectMapMinL5 : kDirectMapMinL4;
  KCOREFS_ASSIGN_OR_RETURN(auto first, pt.FirstMapped(begin, kDirectMapMax));
  if (!first.has_value()) {
    return absl::NotFoundError(absl::StrCat("no mapping between ", Hex(begin), " and ",
                                            Hex(kDirectMapMax), " in the kernel page tables"));
  }
  KCOREFS_ASSIGN_OR_RETURN(Translation t, pt.Translate(*first));
  uint64_t base = *first - t.paddr;
  if (base % kDirectMapAlign != 0) {
    return absl::DataLossError(absl::StrCat("page tables map ", Hex(*first), " to physical ",
                                            Hex(t.paddr), ", which gives an unaligned direct-map base ",
                                            Hex(base)));
  }
  return base;
}

// The kernel image's mapped extent from its runtime start, following physically
// contiguous pages.
absl::StatusOr<ImageRange> ImageFromPageTables(const PageTableWalker& pt, uint64_t start,
                                               uint64_t phys_base) {
  constexpr uint64_t kLimit = kKernelMapStart + kKernelMapSize;
  uint64_t expect = start - kKernelMapStart + phys_base;
  uint64_t va = start;
  while (va < kLimit) {
    auto t = pt.Translate(va);
    if (!t.ok()) {
      if (absl::IsNotFound(t.status())) break;
      return t.status();
    }
    if (t->paddr != va - start + expect) break;
    va = base::AlignDown(va, t->page_size) + t->page_size;
  }
  if (va == start) {
    return absl::NotFoundError(absl::StrCat("kernel image at ", Hex(start), " is not mapped"));
  }
  return ImageRange{start, expect, va - start};
}

// Direct-map base: VMCOREINFO (a kernel with the page_offset_base patch), the source's
// PT_LOADs, then the page tables.
absl::Status DeriveDirectMap(const LayoutInput& in, const Keys& k, const PageTableWalker& pt,
                             KernelLayout& out) {
  if (auto v = in.vmcoreinfo.GetDecimal("NUMBER(page_offset_base)")) {
    out.direct_map_base = static_cast<uint64_t>(*v);
    out.direct_map_origin = "vmcoreinfo";
    // Outside the window (0, 1, -1 from a corrupt text) the kcore view's offsets wrap.
    if (out.direct_map_base < kDirectMapMinL5 || out.direct_map_base >= kDirectMapMax ||
        out.direct_map_base % kDirectMapAlign != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "VMCOREINFO from ", in.vmcoreinfo_origin, " has NUMBER(page_offset_base)=", *v, " (",
          Hex(out.direct_map_base), "), not a 1 GiB-aligned address in the direct-map window [",
          Hex(kDirectMapMinL5), ", ", Hex(kDirectMapMax), ")"));
    }
    return absl::OkStatus();
  }
  if (in.direct_map_base.has_value()) {
    out.direct_map_base = *in.direct_map_base;
    out.direct_map_origin = "source PT_LOADs";
  } else {
    auto dm = DirectMapFromPageTables(pt, k.five_level);
    if (!dm.ok()) {
      return base::Annotate(dm.status(),
                            absl::StrCat("cannot derive the direct-map base from the page tables at "
                                         "physical ", Hex(TopPaddr(k))));
    }
    out.direct_map_base = *dm;
    out.direct_map_origin = "page tables";
  }
  // Served as the unmerged page_offset_base patch would print it: NUMBER() is %ld.
  out.derived_vmcoreinfo.emplace_back("NUMBER(page_offset_base)",
                                      absl::StrCat(static_cast<int64_t>(out.direct_map_base)));
  return absl::OkStatus();
}

// Kernel image: the source's own segment, else the page tables from _stext's 2 MiB page.
absl::Status DeriveImage(const LayoutInput& in, const Keys& k, const PageTableWalker& pt,
                         KernelLayout& out) {
  if (in.image.has_value()) {
    out.image = *in.image;
    return absl::OkStatus();
  }
  uint64_t text = k.stext.value_or(kKernelMapStart + kDefaultTextOffset + k.kaslr_offset);
  auto img = ImageFromPageTables(pt, base::AlignDown(text, kImageAlign),
                                 static_cast<uint64_t>(k.phys_base));
  if (!img.ok()) return base::Annotate(img.status(), "cannot find the kernel image's mapping");
  out.image = *img;
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckSupported(const Arch&) { return absl::OkStatus(); }

absl::StatusOr<std::unique_ptr<PageTableWalker>> NewPageTableWalker(const Arch&,
                                                                    const mem::MemoryMap& map,
                                                                    const Vmcoreinfo& vmcoreinfo) {
  KCOREFS_ASSIGN_OR_RETURN(Keys k, ReadKeys(vmcoreinfo, "the source"));
  return std::make_unique<X86PageTable>(map, TopPaddr(k), k.five_level, k.sme_mask);
}

absl::StatusOr<KernelLayout> DeriveLayout(const Arch&, const LayoutInput& in) {
  KCOREFS_ASSIGN_OR_RETURN(Keys k, ReadKeys(in.vmcoreinfo, in.vmcoreinfo_origin));
  KernelLayout out;
  out.kaslr_offset = k.kaslr_offset;
  out.phys_base = k.phys_base;
  out.five_level = k.five_level;
  X86PageTable pt(in.map, TopPaddr(k), k.five_level, k.sme_mask);
  KCOREFS_RETURN_IF_ERROR(DeriveDirectMap(in, k, pt, out));
  KCOREFS_RETURN_IF_ERROR(DeriveImage(in, k, pt, out));
  return out;
}

absl::StatusOr<SegmentClass> ClassifySegment(const Arch&, uint64_t vaddr, uint64_t paddr) {
  // /proc/kcore marks vmalloc, module and vmemmap segments with p_paddr = -1.
  if (paddr == mem::kNoAddr) {
    return vaddr == 0 ? SegmentClass::kUnaddressable : SegmentClass::kVirtualOnly;
  }
  if (InKernelMap(vaddr)) return SegmentClass::kKernelImage;
  // A direct-map address lies in the randomisation window (5-level's lower start covers
  // both modes) and is at least the physical address it maps. QEMU dumps give RAM
  // p_vaddr 0, which says nothing.
  if (vaddr != 0 && vaddr >= kDirectMapMinL5 && vaddr < kKernelMapStart && vaddr >= paddr) {
    return SegmentClass::kDirectMapRam;
  }
  return SegmentClass::kOtherRam;
}

}  // namespace kcorefs::kernel::x86_64
