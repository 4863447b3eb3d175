#include "kcorefs/kernel/kernel_facts.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/kernel/page_table.h"

namespace kcorefs::kernel {
namespace {

using base::Hex;

// The kernel image is mapped with 2 MiB pages from _text (arch/x86/kernel/head64.c
// cleanup_highmap() removes everything before _text and after _brk_end).
constexpr uint64_t kImageAlign = 2ull << 20;

absl::StatusOr<Vmcoreinfo> FindVmcoreinfo(const mem::MemoryMap& map, const KernelHints& hints,
                                          const DeriveOptions& options, std::string* origin) {
  if (options.vmcoreinfo_override.has_value()) {
    *origin = absl::StrCat("--vmcoreinfo ", options.vmcoreinfo_override_name);
    auto v = Vmcoreinfo::Parse(*options.vmcoreinfo_override);
    if (!v.ok()) return base::Annotate(v.status(), options.vmcoreinfo_override_name);
    return v;
  }
  if (hints.vmcoreinfo.has_value()) {
    *origin = hints.vmcoreinfo_origin;
    auto v = Vmcoreinfo::Parse(*hints.vmcoreinfo);
    if (!v.ok()) return base::Annotate(v.status(), hints.vmcoreinfo_origin);
    return v;
  }
  uint64_t at = 0;
  uint64_t page = hints.arch ? hints.arch->page_size : 4096;
  auto text = ScanForVmcoreinfo(map, page, &at);
  if (!text.ok()) {
    return absl::NotFoundError(
        "the source carries no VMCOREINFO and none was found by scanning its physical memory; "
        "pass the kernel's text with --vmcoreinfo FILE (a copy of /sys/kernel/vmcoreinfo's "
        "note, or `kcorefs info` output of another dump of the same boot)");
  }
  *origin = absl::StrCat("scan of physical memory, note at ", Hex(at));
  return Vmcoreinfo::Parse(*text);
}

// The direct-map base: the lowest mapped address of the randomisation window minus the
// physical address it maps (arch/x86/mm/kaslr.c places the direct map first).
absl::StatusOr<uint64_t> DirectMapFromPageTables(const X86PageTable& pt, const ArchInfo& arch,
                                                 bool five_level) {
  uint64_t begin = five_level ? arch.direct_map_min_l5 : arch.direct_map_min_l4;
  KCOREFS_ASSIGN_OR_RETURN(auto first, pt.FirstMapped(begin, arch.direct_map_max));
  if (!first.has_value()) {
    return absl::NotFoundError(absl::StrCat("no mapping between ", Hex(begin), " and ",
                                            Hex(arch.direct_map_max), " in the kernel page tables"));
  }
  KCOREFS_ASSIGN_OR_RETURN(Translation t, pt.Translate(*first));
  uint64_t base = *first - t.paddr;
  if (base % arch.direct_map_align != 0) {
    return absl::DataLossError(absl::StrCat("page tables map ", Hex(*first), " to physical ",
                                            Hex(t.paddr), ", which gives an unaligned direct-map base ",
                                            Hex(base)));
  }
  return base;
}

// The kernel image's mapped extent from its runtime start, following physically
// contiguous pages.
absl::StatusOr<ImageRange> ImageFromPageTables(const X86PageTable& pt, const ArchInfo& arch,
                                               uint64_t start, uint64_t phys_base) {
  uint64_t limit = arch.kernel_map_start + arch.kernel_map_size;
  uint64_t expect = start - arch.kernel_map_start + phys_base;
  uint64_t va = start;
  while (va < limit) {
    auto t = pt.Translate(va);
    if (!t.ok()) {
      if (absl::IsNotFound(t.status())) break;
      return t.status();
    }
    if (t->paddr != va - start + expect) break;
    uint64_t next = base::AlignDown(va, t->page_size) + t->page_size;
    va = next;
  }
  if (va == start) {
    return absl::NotFoundError(absl::StrCat("kernel image at ", Hex(start), " is not mapped"));
  }
  return ImageRange{start, expect, va - start};
}

}  // namespace

absl::StatusOr<KernelFacts> DeriveKernelFacts(const mem::MemoryMap& map, const KernelHints& hints,
                                              const DeriveOptions& options) {
  if (hints.arch == nullptr) return absl::InvalidArgumentError("unknown architecture");
  if (!hints.arch->has_page_table_walker) {
    // The derivations below (init_top_pgt, __START_KERNEL_map, the KASLR window) are
    // x86_64's; arm64's (kimage_voffset, VA_BITS) are not written yet.
    return absl::UnimplementedError(absl::StrCat(
        "kcorefs derives the kernel layout of x86_64 sources only; this is an ",
        hints.arch->name, " core, which is not supported yet"));
  }
  KernelFacts f;
  f.arch = hints.arch;
  f.prstatus = hints.prstatus;
  KCOREFS_ASSIGN_OR_RETURN(f.vmcoreinfo, FindVmcoreinfo(map, hints, options, &f.vmcoreinfo_origin));
  std::vector<std::string> missing = f.vmcoreinfo.Missing(RequiredVmcoreinfoKeys());
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "VMCOREINFO from ", f.vmcoreinfo_origin, " lacks ", absl::StrJoin(missing, ", "),
        "; pass the kernel's complete text with --vmcoreinfo FILE"));
  }
  f.osrelease = *f.vmcoreinfo.Get("OSRELEASE");
  auto kaslr = f.vmcoreinfo.GetHex("KERNELOFFSET");
  auto phys_base = f.vmcoreinfo.GetDecimal("NUMBER(phys_base)");
  auto top = f.vmcoreinfo.GetHex("SYMBOL(init_top_pgt)");
  auto stext = f.vmcoreinfo.GetHex("SYMBOL(_stext)");
  if (!kaslr || !phys_base || !top) {
    return absl::InvalidArgumentError(absl::StrCat(
        "VMCOREINFO from ", f.vmcoreinfo_origin,
        " has a malformed KERNELOFFSET, NUMBER(phys_base) or SYMBOL(init_top_pgt)"));
  }
  f.kaslr_offset = *kaslr;
  f.phys_base = *phys_base;
  f.five_level = f.vmcoreinfo.GetDecimal("NUMBER(pgtable_l5_enabled)").value_or(0) != 0;
  const ArchInfo& arch = *f.arch;
  // The kcore view places each segment at vaddr - direct-map base, and the image again at
  // its link-time address (runtime - KERNELOFFSET). A corrupt VMCOREINFO that puts either
  // address below the direct-map base wraps those file offsets past 2^64, and the view's
  // extent table then serves zeros in place of other segments' bytes. KASLR moves the
  // image by less than the image map's size.
  if (f.kaslr_offset >= arch.kernel_map_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "VMCOREINFO from ", f.vmcoreinfo_origin, " has KERNELOFFSET=", Hex(f.kaslr_offset),
        ", beyond the ", Hex(arch.kernel_map_size), " bytes the kernel image can move"));
  }
  uint64_t sme = static_cast<uint64_t>(f.vmcoreinfo.GetDecimal("NUMBER(sme_mask)").value_or(0));
  uint64_t top_paddr = *top - arch.kernel_map_start + static_cast<uint64_t>(f.phys_base);
  X86PageTable pt(map, top_paddr, f.five_level, sme);

  // Direct-map base: VMCOREINFO (a kernel with the page_offset_base patch), the source's
  // PT_LOADs, then the page tables.
  if (auto v = f.vmcoreinfo.GetDecimal("NUMBER(page_offset_base)")) {
    f.direct_map_base = static_cast<uint64_t>(*v);
    f.direct_map_origin = "vmcoreinfo";
    if (f.direct_map_base < arch.direct_map_min_l5 || f.direct_map_base >= arch.direct_map_max) {
      return absl::InvalidArgumentError(absl::StrCat(
          "VMCOREINFO from ", f.vmcoreinfo_origin, " has NUMBER(page_offset_base)=", *v,
          " (", Hex(f.direct_map_base), "), outside the direct-map window [",
          Hex(arch.direct_map_min_l5), ", ", Hex(arch.direct_map_max), ")"));
    }
  } else if (hints.direct_map_base.has_value()) {
    f.direct_map_base = *hints.direct_map_base;
    f.direct_map_origin = "source PT_LOADs";
  } else {
    auto dm = DirectMapFromPageTables(pt, arch, f.five_level);
    if (!dm.ok()) {
      return base::Annotate(dm.status(),
                            absl::StrCat("cannot derive the direct-map base from the page tables at "
                                         "physical ", Hex(top_paddr)));
    }
    f.direct_map_base = *dm;
    f.direct_map_origin = "page tables";
  }
  if (!f.vmcoreinfo.Has("NUMBER(page_offset_base)")) {
    // The kernel prints NUMBER() with %ld (seeds/x86_64-vmcoreinfo-page_offset_base.patch).
    f.vmcoreinfo.AppendIfMissing("NUMBER(page_offset_base)",
                                 absl::StrCat(static_cast<int64_t>(f.direct_map_base)));
  }

  // Kernel image: the source's own segment, else the page tables from _stext's 2 MiB page.
  if (hints.image.has_value()) {
    f.image = *hints.image;
  } else {
    uint64_t start = base::AlignDown(stext.value_or(arch.kernel_map_start + 0x1000000 + f.kaslr_offset),
                                     kImageAlign);
    auto img = ImageFromPageTables(pt, arch, start, static_cast<uint64_t>(f.phys_base));
    if (!img.ok()) {
      return base::Annotate(img.status(), "cannot find the kernel image's mapping");
    }
    f.image = *img;
  }
  // The image must be readable physically; the vmcore view serves it from there.
  absl::Status covered = map.ResolvePhys(f.image.paddr, f.image.size, [](const mem::Piece&) {});
  if (!covered.ok()) {
    f.warnings.push_back(absl::StrCat("kernel image [", Hex(f.image.paddr), ", +", Hex(f.image.size),
                                      ") is not wholly in the source: ", covered.message()));
  }
  return f;
}

}  // namespace kcorefs::kernel
