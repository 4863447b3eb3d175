// The kernel's vmlinux (the ELF file with its symbols), checked against the kernel behind
// a source before any view serves it: gdb given a vmlinux of another build prints wrong
// values without a word, so a vmlinux whose GNU build id differs from VMCOREINFO's
// BUILD-ID is never used (docs/consumers.md, "gdb and KASLR").
#ifndef KCOREFS_KERNEL_VMLINUX_H_
#define KCOREFS_KERNEL_VMLINUX_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::kernel {

struct KernelFacts;
struct DeriveOptions;

struct Vmlinux {
  std::string path;
  // The open file; the vmlinux view streams it read by read (it is hundreds of MB).
  std::shared_ptr<const io::FileByteSource> file;
  std::string build_id;  // NT_GNU_BUILD_ID as lowercase hex; empty when the file has none
  uint64_t entry = 0;    // e_entry as linked
  uint16_t e_type = 0;   // as in the file (ET_EXEC for every kernel build)
  uint16_t e_machine = 0;
  bool big_endian = false;
};

// Where Debian's -dbg packages put the vmlinux of OSRELEASE.
std::string DebianVmlinuxPath(const std::string& osrelease);

// Opens and parses PATH's ELF header and notes (libelf). Work is bounded by the notes'
// size, never by the file's.
absl::StatusOr<std::shared_ptr<const Vmlinux>> OpenVmlinux(const std::string& path);

// Sets facts.vmlinux from options.vmlinux_path (an error when it does not match the
// kernel: the user asked for it), else from DebianVmlinuxPath(facts.osrelease) when that
// exists (a warning, and not used, when it does not match). Needs facts.vmcoreinfo,
// osrelease and arch.
absl::Status AttachVmlinux(const DeriveOptions& options, KernelFacts& facts);

}  // namespace kcorefs::kernel

#endif  // KCOREFS_KERNEL_VMLINUX_H_
