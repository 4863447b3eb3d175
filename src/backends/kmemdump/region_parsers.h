// Parsers of a kmemdump/meminspect region set's untrusted inputs: region file names
// (md_K<name8><id>.BIN), the coreimage header region (region 1), Qualcomm's dump_info.txt,
// Trace32's load.cmm and kcorefs' own manifest kcorefs-regions.json. Pure functions over
// bytes (fuzzed: tests/fuzz/fuzz_kmemdump_*.cc); every count and offset is checked
// against the input before use, and work is bounded by the input's size.
#ifndef KCOREFS_BACKENDS_KMEMDUMP_REGION_PARSERS_H_
#define KCOREFS_BACKENDS_KMEMDUMP_REGION_PARSERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kcorefs::backends::kmemdump {

// What a region is for. kAux: a file of the set that is not part of the image
// (md_KCPU_CTX, another subsystem's region).
enum class Role { kElfHeader, kVmcoreinfo, kLoad, kAux };
absl::string_view RoleName(Role role);

// One region as metadata (or a file name) describes it; absent fields are unknown.
struct RegionSpec {
  std::string file;  // base name in the directory; empty: no file
  std::string name;
  std::optional<uint64_t> id;
  std::optional<uint64_t> paddr;
  std::optional<uint64_t> vaddr;
  std::optional<uint64_t> size;  // registered size (the image takes ALIGN(size, 4))
  std::optional<std::string> sha256;
  std::optional<Role> role;
  std::string origin;  // "dump_info.txt line 3", for messages
};

// "md_Klinux_ba10.BIN" -> {name "linux_ba", id 10}. Nullopt for any other name.
struct RegionFileName {
  std::string name;
  uint64_t id;
};
std::optional<RegionFileName> ParseRegionFileName(absl::string_view file);

// One PT_LOAD of the header region, in program header order.
struct HeaderLoad {
  uint64_t index;   // program header index
  uint64_t offset;  // the kernel's p_offset (reported, never used to place data)
  uint64_t vaddr;
  uint64_t paddr;
  uint64_t filesz;
  uint64_t memsz;
  uint32_t flags;
};

// The coreimage header region (kmemdump_coreimage.c init_elfheader()): Ehdr, a table of
// program header slots, then the notes, the last being VMCOREINFO whose descriptor is
// region 2 and starts where the header region ends.
struct HeaderRegion {
  uint16_t e_machine = 0;
  uint64_t phoff = 0;
  uint64_t phdr_slots = 0;       // slots between e_phoff and the first note byte
  uint64_t note_offset = 0;      // PT_NOTE p_offset
  uint64_t note_size = 0;        // PT_NOTE p_filesz
  uint64_t size = 0;             // bytes of the header region: up to VMCOREINFO's descriptor
  uint64_t vmcoreinfo_size = 0;  // VMCOREINFO's n_descsz: region 2's size in the image
  std::vector<HeaderLoad> loads;
};

// Parses `bytes`, the header region's file or the start of an assembled minidump.elf
// (`whole_file`: then bytes past the header are allowed). `what` names the input.
absl::StatusOr<HeaderRegion> ParseHeaderRegion(absl::string_view bytes, bool whole_file,
                                               absl::string_view what);

// dump_info.txt: "valid paddr size name filename" per line (Qualcomm's minidump tools
// write `1 0x%016x\t%16d\t%-16s\t%-16s`). Lines with valid 0 are skipped.
absl::StatusOr<std::vector<RegionSpec>> ParseDumpInfo(absl::string_view text,
                                                      absl::string_view what);

// load.cmm (Trace32): "d.load.binary FILE ADDR [/options]" lines; others are ignored.
absl::StatusOr<std::vector<RegionSpec>> ParseLoadCmm(absl::string_view text,
                                                     absl::string_view what);

// kcorefs-regions.json (docs/backends/kcorefs-kmemdump-backend.7.md, "MANIFEST").
struct Manifest {
  std::optional<std::string> machine;     // "x86_64", "aarch64"
  std::optional<std::string> osrelease;   // kernel.osrelease, checked against VMCOREINFO
  std::vector<RegionSpec> regions;
};
absl::StatusOr<Manifest> ParseManifest(absl::string_view text, absl::string_view what);

}  // namespace kcorefs::backends::kmemdump

#endif  // KCOREFS_BACKENDS_KMEMDUMP_REGION_PARSERS_H_
