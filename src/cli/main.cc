// kcorefs: show a Linux kernel's memory as core files.
#include <cstdio>
#include <cstring>

#include "cli/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: kcorefs COMMAND [options] ...\n"
    "\n"
    "  mount  [options] SOURCE MOUNTPOINT   serve vmcore, kcore and vmcoreinfo from SOURCE\n"
    "  premount [-o uid=N,gid=N] MOUNTPOINT SOCKET   mount for an unprivileged server\n"
    "  export [options] SOURCE --view V -o FILE|-   write one view to a file\n"
    "  info   [--json] SOURCE|MOUNTPOINT    describe a source (or a mount's counters)\n"
    "  backends                             list the backends and their options\n"
    "\n"
    "SOURCE is claimed by the backend that recognises it (a URI scheme, a file's magic,\n"
    "a path such as /proc/kcore); NAME:REST forces backend NAME. Backends in this build:\n";

constexpr char kUsageTail[] =
    "\n`kcorefs COMMAND --help` shows a command's options; man kcorefs for more.\n";

void Usage(FILE* out) {
  std::fputs(kUsage, out);
  std::fputs(kcorefs::cli::BackendsText(false).c_str(), out);
  std::fputs(kUsageTail, out);
}

}  // namespace

int main(int argc, char** argv) {
  // Installed as mount.kcorefs and mount.fuse.kcorefs for mount(8) and /etc/fstab.
  const char* self = std::strrchr(argv[0], '/');
  self = self != nullptr ? self + 1 : argv[0];
  if (!std::strcmp(self, "mount.kcorefs") || !std::strcmp(self, "mount.fuse.kcorefs")) {
    return kcorefs::cli::MountHelper(argc, argv);
  }
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    Usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::puts("kcorefs " KCOREFS_VERSION);
    return 0;
  }
  const char* cmd = argv[1];
  if (!std::strcmp(cmd, "mount")) return kcorefs::cli::MountCommand(argc - 1, argv + 1);
  if (!std::strcmp(cmd, "premount")) return kcorefs::cli::PremountCommand(argc - 1, argv + 1);
  if (!std::strcmp(cmd, "export")) return kcorefs::cli::ExportCommand(argc - 1, argv + 1);
  if (!std::strcmp(cmd, "info")) return kcorefs::cli::InfoCommand(argc - 1, argv + 1);
  if (!std::strcmp(cmd, "backends")) return kcorefs::cli::BackendsCommand(argc - 1, argv + 1);
  std::fprintf(stderr, "kcorefs: unknown command \"%s\"\n\n", cmd);
  Usage(stderr);
  return 2;
}
