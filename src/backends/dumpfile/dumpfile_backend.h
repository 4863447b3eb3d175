// dumpfile: an ELF kernel core on disk (kdump vmcore, /proc/kcore copy, QEMU
// dump-guest-memory ELF, meminspect minidump.elf). Immutable: one snapshot for its life.
#ifndef KCOREFS_BACKENDS_DUMPFILE_DUMPFILE_BACKEND_H_
#define KCOREFS_BACKENDS_DUMPFILE_DUMPFILE_BACKEND_H_

#include <memory>
#include <string>

#include "kcorefs/backends/backend.h"

namespace kcorefs::backends {

absl::StatusOr<std::unique_ptr<Backend>> OpenDumpfileBackend(const std::string& path,
                                                             const BackendConfig& config);

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_DUMPFILE_DUMPFILE_BACKEND_H_
