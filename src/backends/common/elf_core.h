// Reading ELF kernel cores (kdump vmcores, /proc/kcore and copies of it, QEMU
// dump-guest-memory output, meminspect minidump.elf) with libelf, shared by the dumpfile
// and live backends. Never trusts a header: every offset and size is checked against the
// file before use.
#ifndef KCOREFS_BACKENDS_COMMON_ELF_CORE_H_
#define KCOREFS_BACKENDS_COMMON_ELF_CORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kcorefs/io/byte_source.h"
#include "kcorefs/kernel/kernel_facts.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::backends {

struct ElfCoreContents {
  mem::MemoryMap map;
  kernel::KernelHints hints;
  std::vector<std::string> warnings;
  bool has_taskstruct = false;  // the /proc/kcore shape
};

// Parses `file` as an ELF core. `file_size` is the size to check offsets against (for
// /proc/kcore, its st_size).
absl::StatusOr<ElfCoreContents> ReadElfCore(std::shared_ptr<const io::ByteSource> file,
                                            uint64_t file_size);

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_COMMON_ELF_CORE_H_
