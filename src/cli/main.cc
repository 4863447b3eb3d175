// kcorefs: show a Linux kernel's memory as core files.
#include <cstdio>
#include <cstring>

#include "cli/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: kcorefs COMMAND [options] ...\n"
    "\n"
    "  mount  [options] SOURCE MOUNTPOINT   serve vmcore, kcore and vmcoreinfo from SOURCE\n"
    "  export [options] SOURCE --view V -o FILE|-   write one view to a file\n"
    "  info   [--json] SOURCE|MOUNTPOINT    describe a source (or a mount's counters)\n"
    "\n"
    "SOURCE: /proc/kcore (or live), /dev/crash, /dev/mem, or an ELF core file.\n"
    "`kcorefs COMMAND --help` shows a command's options; man kcorefs for more.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::puts("kcorefs " KCOREFS_VERSION);
    return 0;
  }
  const char* cmd = argv[1];
  if (!std::strcmp(cmd, "mount")) return kcorefs::cli::MountCommand(argc - 1, argv + 1);
  if (!std::strcmp(cmd, "export")) return kcorefs::cli::ExportCommand(argc - 1, argv + 1);
  if (!std::strcmp(cmd, "info")) return kcorefs::cli::InfoCommand(argc - 1, argv + 1);
  std::fprintf(stderr, "kcorefs: unknown command \"%s\"\n\n%s", cmd, kUsage);
  return 2;
}
