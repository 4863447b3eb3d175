// kmemdump: a kmemdump/meminspect region set (docs/backends/kcorefs-kmemdump-backend.7.md): a
// directory of md_K<name8><id>.BIN files as QDL/EDL save them (region 1 the coreimage ELF
// header, region 2 VMCOREINFO), with optional dump_info.txt, load.cmm or
// kcorefs-regions.json, or a single assembled minidump.elf. Headers are rebuilt from the
// regions; a missing region is a hole at its own place; the directory is watched and a
// change gives a new epoch.
#ifndef KCOREFS_BACKENDS_KMEMDUMP_KMEMDUMP_BACKEND_H_
#define KCOREFS_BACKENDS_KMEMDUMP_KMEMDUMP_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kcorefs/backends/backend.h"

namespace kcorefs::backends {

absl::StatusOr<std::unique_ptr<Backend>> OpenKmemdumpBackend(const std::string& source,
                                                             const BackendConfig& config);

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_KMEMDUMP_KMEMDUMP_BACKEND_H_
