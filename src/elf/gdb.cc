#include "kcorefs/elf/gdb.h"

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"

namespace kcorefs::elf {
namespace {

using base::Hex;

bool Overlaps(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) {
  return a < b + b_size && b < a + a_size;
}

}  // namespace

ImageLayout KcoreImageLayout(const backends::Snapshot& snapshot) {
  const kernel::KernelFacts& f = snapshot.facts;
  if (f.kaslr_offset == 0) return ImageLayout::kRuntimeOnly;
  const uint64_t link = f.image_link_vaddr();
  if (Overlaps(link, f.image.size, f.image.vaddr, f.image.size)) return ImageLayout::kRelocate;
  // The kcore view leaves out virtual segments below the direct map; any other one the
  // link-time range would cover keeps the alias out too.
  for (const mem::Segment& s : snapshot.map.virtual_only()) {
    if (s.start >= f.direct_map_base && Overlaps(link, f.image.size, s.start, s.size)) {
      return ImageLayout::kRelocate;
    }
  }
  return ImageLayout::kLinkAlias;
}

absl::string_view ImageLayoutName(ImageLayout layout) {
  switch (layout) {
    case ImageLayout::kRuntimeOnly: return "runtime";
    case ImageLayout::kLinkAlias: return "link-alias";
    case ImageLayout::kRelocate: return "relocate";
  }
  return "?";
}

bool RelocatesVmlinux(const backends::Snapshot& snapshot) {
  return snapshot.facts.vmlinux != nullptr && KcoreImageLayout(snapshot) == ImageLayout::kRelocate;
}

GdbAdvice AdviseGdb(const backends::Snapshot& snapshot, absl::string_view mount,
                    bool vmlinux_view) {
  const kernel::KernelFacts& f = snapshot.facts;
  GdbAdvice a;
  a.layout = KcoreImageLayout(snapshot);
  const std::string kcore = absl::StrCat(mount, "/kcore");
  const std::string vmlinux = vmlinux_view ? absl::StrCat(mount, "/vmlinux") : "vmlinux";
  const std::string off = Hex(f.kaslr_offset);
  if (a.layout != ImageLayout::kRelocate) {
    a.command = absl::StrCat("gdb ", vmlinux, " ", kcore);
    return a;
  }
  if (vmlinux_view) {
    // MNT/vmlinux is ET_DYN and MNT/kcore carries NT_AUXV: gdb relocates by itself.
    a.command = absl::StrCat("gdb ", vmlinux, " ", kcore);
  } else {
    // The core first: given as the program, gdb would take kcore for the executable.
    a.command = absl::StrCat("gdb -c ", kcore, " -ex 'symbol-file -o ", off, " vmlinux'");
  }
  a.per_cpu = absl::StrCat(
      "gdb moves per-CPU symbols by the KASLR offset too; read CPU N's copy of a per-CPU "
      "variable VAR as *(TYPE *)((char *)&VAR - ", off, " + __per_cpu_offset[N]), e.g. "
      "p *(struct task_struct **)((char *)&current_task - ", off, " + __per_cpu_offset[0])");
  a.warning = absl::StrCat(
      "KASLR offset ", off, " is smaller than the kernel image (", Hex(f.image.size),
      " bytes): its link-time range overlaps its runtime range, so kcore maps the image "
      "only at its runtime address and `gdb vmlinux ", kcore,
      "` would read wrong values without a word; use: ", a.command,
      vmlinux_view ? ""
                   : " (or mount with --vmlinux FILE: then gdb MNT/vmlinux MNT/kcore "
                     "relocates by itself)");
  return a;
}

}  // namespace kcorefs::elf
