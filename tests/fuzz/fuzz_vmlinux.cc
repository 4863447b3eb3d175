// Fuzz target: a vmlinux given with --vmlinux (or found at Debian's path), as OpenVmlinux
// reads it through libelf: the ELF header, program headers and notes for the GNU build id.
// A file that opens must report a build id of whole hex bytes, and a type gdb can load.
#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "kcorefs/kernel/vmlinux.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = memfd_create("fuzz-vmlinux", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  auto v = kcorefs::kernel::OpenVmlinux("/proc/self/fd/" + std::to_string(fd));
  close(fd);
  if (!v.ok()) return 0;
  KCOREFS_FUZZ_CHECK((*v)->build_id.size() % 2 == 0);
  KCOREFS_FUZZ_CHECK((*v)->build_id.size() <= 2 * size);
  KCOREFS_FUZZ_CHECK((*v)->e_type == ET_EXEC || (*v)->e_type == ET_DYN);
  return 0;
}
