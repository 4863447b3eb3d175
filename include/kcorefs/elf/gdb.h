// How gdb must be started on a mount's kcore for this kernel (docs/consumers.md, "gdb and
// KASLR"). The kcore and vmlinux views and the CLI's messages all decide from here, so
// what the mount serves and what it tells the user cannot disagree.
#ifndef KCOREFS_ELF_GDB_H_
#define KCOREFS_ELF_GDB_H_

#include <string>

#include "absl/strings/string_view.h"
#include "kcorefs/backends/snapshot.h"

namespace kcorefs::elf {

// Where the kcore view puts the kernel image.
enum class ImageLayout {
  kRuntimeOnly,  // no KASLR offset: runtime and link-time addresses are the same
  kLinkAlias,    // runtime address, and again at the link-time address: `gdb vmlinux kcore`
  // The link-time range overlaps the runtime one (KERNELOFFSET < image size) or a served
  // segment, so only the runtime mapping exists: gdb must relocate vmlinux by the offset
  // (an ET_DYN vmlinux plus the kcore view's NT_AUXV, or symbol-file -o).
  kRelocate,
};
ImageLayout KcoreImageLayout(const backends::Snapshot& snapshot);
absl::string_view ImageLayoutName(ImageLayout layout);  // "runtime", "link-alias", "relocate"

// Whether the kcore view carries NT_AUXV (AT_ENTRY = vmlinux e_entry + KERNELOFFSET) and
// the vmlinux view is served as ET_DYN: kRelocate with a checked vmlinux.
bool RelocatesVmlinux(const backends::Snapshot& snapshot);

struct GdbAdvice {
  ImageLayout layout;
  std::string command;  // the gdb command line that reads this kernel right
  // Per-CPU variables are zero-based offsets that KASLR does not move, but gdb relocates
  // them with everything else: how to read them anyway. Empty when gdb does not relocate.
  std::string per_cpu;
  std::string warning;  // why the command is what it is, for kRelocate; else empty
};

// `mount`: the mount point as the user should type it ("MNT" when there is none);
// `vmlinux_view`: whether MNT/vmlinux is served.
GdbAdvice AdviseGdb(const backends::Snapshot& snapshot, absl::string_view mount,
                    bool vmlinux_view);

}  // namespace kcorefs::elf

#endif  // KCOREFS_ELF_GDB_H_
