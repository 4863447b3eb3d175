// Fuzz target: what the registry makes of a source's first bytes (DescribeSource, which
// reads an ELF header and program headers in the file's own byte order to tell a vmlinux
// or a program from a core). The input is the first 4 KiB of a regular file, as
// MakeProbeInput reads them; the work is bounded by them (program headers past the end are
// not looked at).
#include <cstddef>
#include <cstdint>
#include <string>

#include "kcorefs/backends/backend.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) size = 4096;
  kcorefs::backends::ProbeInput in;
  in.source = "fuzz-input";
  in.kind = kcorefs::backends::ProbeInput::Kind::kRegular;
  in.magic.assign(reinterpret_cast<const char*>(data), size);
  std::string what = kcorefs::backends::DescribeSource(in);
  KCOREFS_FUZZ_CHECK(!what.empty());
  // A core is a core whatever its program headers say: never called a program or vmlinux.
  const bool elf = size >= 18 && in.magic.compare(0, 4, "\x7f" "ELF") == 0;
  const bool core = elf && (in.magic[5] == 2 ? data[16] == 0 && data[17] == 4
                                             : data[16] == 4 && data[17] == 0);
  if (core) KCOREFS_FUZZ_CHECK(what == "an ELF file");
  if (!elf) KCOREFS_FUZZ_CHECK(what.find("kernel image") == std::string::npos);
  return 0;
}
