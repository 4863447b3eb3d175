// aarch64: the kernel address space of arch/arm64 (include/asm/memory.h) as VMCOREINFO
// describes it. The linear map is PAGE_OFFSET = -(2^VA_BITS) onward, a physical address
// at (paddr - PHYS_OFFSET) | PAGE_OFFSET (5.4 and later; before, PAGE_OFFSET was
// -(2^(VA_BITS-1)), the upper half). The kernel image sits anywhere the bootloader put it
// physically: its virtual address minus kimage_voffset is its physical address.
#include "kernel/arch/aarch64.h"

#include <bit>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kernel/arch/aarch64_page_table.h"

namespace kcorefs::kernel::aarch64 {
namespace {

using base::Hex;

// The image is placed at 2 MiB granularity (MIN_KIMG_ALIGN) and its segments are mapped
// in 64 KiB-aligned pieces with unmapped padding between them; a gap this long ends it.
constexpr uint64_t kImageAlign = 2ull << 20;
constexpr uint64_t kImageMaxGap = 2ull << 20;
// An image longer than this is a walk that ran into other mappings.
constexpr uint64_t kImageMaxSize = 1ull << 30;
// KIMAGE_VADDR is _PAGE_END(VA_BITS_MIN) + MODULES_VSIZE: 128 MiB before 6.3 (5.x, 6.1),
// 2 GiB after. Tried in order when VMCOREINFO has no SYMBOL(_stext).
constexpr uint64_t kModulesSizes[] = {128ull << 20, 2ull << 30};

// The kernel prints NUMBER(kimage_voffset) and NUMBER(PHYS_OFFSET) with 0x%llx, unlike
// the %ld of other NUMBER()s; either form is read.
std::optional<uint64_t> GetNumber(const Vmcoreinfo& v, absl::string_view key) {
  auto s = v.Get(key);
  if (!s) return std::nullopt;
  absl::string_view t = *s;
  uint64_t out;
  if (absl::ConsumePrefix(&t, "0x") || absl::ConsumePrefix(&t, "0X")) {
    if (!absl::SimpleHexAtoi(t, &out)) return std::nullopt;
    return out;
  }
  int64_t d;
  if (!absl::SimpleAtoi(t, &d)) return std::nullopt;
  return static_cast<uint64_t>(d);
}

// Major and minor of OSRELEASE ("6.1.0-28-arm64"); 0.0 when unreadable.
std::pair<int, int> Release(const Vmcoreinfo& v) {
  std::string r = v.Get("OSRELEASE").value_or("");
  std::vector<absl::string_view> parts = absl::StrSplit(r, absl::MaxSplits('.', 2));
  int major = 0, minor = 0;
  if (parts.size() >= 2) {
    (void)absl::SimpleAtoi(parts[0], &major);
    absl::string_view m = parts[1];
    size_t n = 0;
    while (n < m.size() && m[n] >= '0' && m[n] <= '9') ++n;
    (void)absl::SimpleAtoi(m.substr(0, n), &minor);
  }
  return {major, minor};
}

struct Keys {
  int va_bits;
  uint64_t kimage_voffset;
  uint64_t phys_offset;
  uint64_t kaslr_offset;
  uint64_t swapper_pg_dir;
  std::optional<uint64_t> stext;
  uint64_t page_offset;  // start of the linear map
  uint64_t page_end;     // _PAGE_END(VA_BITS_MIN): the image, modules and vmalloc above
};

absl::StatusOr<Keys> ReadKeys(const Vmcoreinfo& v, absl::string_view origin) {
  auto va_bits = v.GetDecimal("NUMBER(VA_BITS)");
  auto voff = GetNumber(v, "NUMBER(kimage_voffset)");
  auto phys = GetNumber(v, "NUMBER(PHYS_OFFSET)");
  auto kaslr = v.GetHex("KERNELOFFSET");
  auto swapper = v.GetHex("SYMBOL(swapper_pg_dir)");
  if (!va_bits || !voff || !phys || !kaslr || !swapper) {
    return absl::InvalidArgumentError(absl::StrCat(
        "VMCOREINFO from ", origin,
        " has a malformed NUMBER(VA_BITS), NUMBER(kimage_voffset), NUMBER(PHYS_OFFSET), "
        "KERNELOFFSET or SYMBOL(swapper_pg_dir)"));
  }
  if (auto page = v.GetDecimal("PAGESIZE"); page && *page != 4096) {
    return absl::UnimplementedError(absl::StrCat(
        "VMCOREINFO from ", origin, " has PAGESIZE=", *page,
        "; kcorefs reads aarch64 kernels with 4 KiB pages only"));
  }
  // TCR_EL1.T1SZ (5.12+) is the VA size the hardware runs with; a 52-bit kernel on 48-bit
  // hardware keeps PAGE_OFFSET of its VA_BITS but walks 48-bit tables.
  int walk_bits = static_cast<int>(*va_bits);
  if (auto t1sz = v.GetDecimal("NUMBER(TCR_EL1_T1SZ)"); t1sz && *t1sz > 0 && *t1sz < 64) {
    walk_bits = 64 - static_cast<int>(*t1sz);
  }
  if (*va_bits < 36 || *va_bits > 48 || walk_bits != *va_bits) {
    return absl::UnimplementedError(absl::StrCat(
        "VMCOREINFO from ", origin, " has NUMBER(VA_BITS)=", *va_bits,
        walk_bits != *va_bits ? absl::StrCat(" with a ", walk_bits, "-bit TCR_EL1.T1SZ") : "",
        "; kcorefs reads aarch64 kernels with 36- to 48-bit virtual addresses"));
  }
  Keys k{static_cast<int>(*va_bits), *voff, *phys, *kaslr, *swapper, v.GetHex("SYMBOL(_stext)"), 0, 0};
  auto [major, minor] = Release(v);
  bool flipped = major > 5 || (major == 5 && minor >= 4);
  k.page_offset = flipped ? ~uint64_t{0} << k.va_bits : ~uint64_t{0} << (k.va_bits - 1);
  k.page_end = flipped ? ~uint64_t{0} << (k.va_bits - 1) : 0;
  if (!flipped) {
    return absl::UnimplementedError(absl::StrCat(
        "VMCOREINFO from ", origin, " has OSRELEASE=", v.Get("OSRELEASE").value_or(""),
        "; kcorefs reads aarch64 kernels 5.4 and later (the linear map moved to the lower half)"));
  }
  // The image's physical addresses are vaddr - kimage_voffset: the kernel's symbols must
  // lie above the linear map and translate below 2^52.
  if (k.swapper_pg_dir < k.page_end || k.swapper_pg_dir - k.kimage_voffset >= (1ull << 52) ||
      k.kaslr_offset >= (1ull << (k.va_bits - 1))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "VMCOREINFO from ", origin, " has SYMBOL(swapper_pg_dir)=", Hex(k.swapper_pg_dir),
        ", NUMBER(kimage_voffset)=", Hex(k.kimage_voffset), " and KERNELOFFSET=", Hex(k.kaslr_offset),
        ", which do not place the kernel image above the linear map ending ", Hex(k.page_end),
        " at a physical address below 2^52"));
  }
  return k;
}

uint64_t TopPaddr(const Keys& k) { return k.swapper_pg_dir - k.kimage_voffset; }

// The image from `start` (_text): pages whose physical address is vaddr - kimage_voffset,
// across the padding between its segments, until a gap longer than kImageMaxGap.
absl::StatusOr<ImageRange> ImageFromPageTables(const PageTableWalker& pt, const Keys& k,
                                               uint64_t start) {
  uint64_t va = start;
  uint64_t end = start;
  while (va - start < kImageMaxSize) {
    auto t = pt.Translate(va);
    if (!t.ok()) {
      if (!absl::IsNotFound(t.status())) return t.status();
      KCOREFS_ASSIGN_OR_RETURN(auto next, pt.FirstMapped(va, va + kImageMaxGap));
      if (!next.has_value()) break;
      va = *next;
      continue;
    }
    if (t->paddr != va - k.kimage_voffset) break;
    va = base::AlignDown(va, t->page_size) + t->page_size;
    end = va;
  }
  if (end == start) {
    return absl::NotFoundError(absl::StrCat("kernel image at ", Hex(start), " is not mapped"));
  }
  return ImageRange{start, start - k.kimage_voffset, end - start};
}

absl::Status DeriveImage(const LayoutInput& in, const Keys& k, const PageTableWalker& pt,
                         KernelLayout& out) {
  if (in.image.has_value()) {
    out.image = *in.image;
    return absl::OkStatus();
  }
  std::vector<uint64_t> starts;
  if (k.stext) starts.push_back(base::AlignDown(*k.stext, kImageAlign));
  for (uint64_t modules : kModulesSizes) starts.push_back(k.page_end + modules + k.kaslr_offset);
  absl::Status last;
  for (uint64_t s : starts) {
    auto img = ImageFromPageTables(pt, k, s);
    if (img.ok()) {
      out.image = *img;
      return absl::OkStatus();
    }
    last = img.status();
  }
  return base::Annotate(last, absl::StrCat("cannot find the kernel image's mapping through "
                                           "swapper_pg_dir at physical ", Hex(TopPaddr(k))));
}

}  // namespace

absl::Status CheckSupported(const Arch&) { return absl::OkStatus(); }

absl::StatusOr<std::unique_ptr<PageTableWalker>> NewPageTableWalker(const Arch&,
                                                                    const mem::MemoryMap& map,
                                                                    const Vmcoreinfo& vmcoreinfo) {
  KCOREFS_ASSIGN_OR_RETURN(Keys k, ReadKeys(vmcoreinfo, "the source"));
  return std::make_unique<Arm64PageTable>(map, TopPaddr(k), k.va_bits);
}

absl::StatusOr<KernelLayout> DeriveLayout(const Arch&, const LayoutInput& in) {
  KCOREFS_ASSIGN_OR_RETURN(Keys k, ReadKeys(in.vmcoreinfo, in.vmcoreinfo_origin));
  KernelLayout out;
  out.kaslr_offset = k.kaslr_offset;
  // phys_base in x86_64's sense (image physical minus its link-time offset) has no arm64
  // equivalent; PHYS_OFFSET, the start of RAM, is what crash and drgn read instead.
  out.phys_base = static_cast<int64_t>(k.phys_offset);
  // The linear map as a base added to a physical address, the form the views use:
  // (paddr - PHYS_OFFSET) | PAGE_OFFSET is paddr + (PAGE_OFFSET - PHYS_OFFSET) while
  // paddr - PHYS_OFFSET < 2^VA_BITS.
  out.direct_map_base = k.page_offset - k.phys_offset;
  out.direct_map_origin = "vmcoreinfo";
  if (in.direct_map_base.has_value() && *in.direct_map_base != out.direct_map_base) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the source's RAM segments put the linear map at ", Hex(*in.direct_map_base),
        " but VMCOREINFO from ", in.vmcoreinfo_origin, " (VA_BITS ", k.va_bits, ", PHYS_OFFSET ",
        Hex(k.phys_offset), ") gives ", Hex(out.direct_map_base),
        "; pass the kernel's own text with --vmcoreinfo FILE"));
  }
  Arm64PageTable pt(in.map, TopPaddr(k), k.va_bits);
  KCOREFS_RETURN_IF_ERROR(DeriveImage(in, k, pt, out));
  return out;
}

absl::StatusOr<SegmentClass> ClassifySegment(const Arch&, uint64_t vaddr, uint64_t paddr) {
  // /proc/kcore marks vmalloc, module and vmemmap segments with p_paddr = -1.
  if (paddr == mem::kNoAddr) {
    return vaddr == 0 ? SegmentClass::kUnaddressable : SegmentClass::kVirtualOnly;
  }
  // Without VMCOREINFO the VA size is unknown; each 4 KiB-granule size (39, 48 bits)
  // gives the linear map [-(2^b), -(2^(b-1))): exactly 64 - b leading ones. Anything
  // higher in the upper half with a physical address is the image (kcore's KCORE_TEXT).
  if (vaddr == 0 || !(vaddr >> 63) || vaddr < paddr) return SegmentClass::kOtherRam;
  int ones = std::countl_one(vaddr);
  if (ones == 64 - 48 || ones == 64 - 39) return SegmentClass::kDirectMapRam;
  return SegmentClass::kKernelImage;
}

}  // namespace kcorefs::kernel::aarch64
