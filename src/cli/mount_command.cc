#include <getopt.h>
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "cli/commands.h"
#include "kcorefs/elf/gdb.h"
#include "kcorefs/fuse/fd_pass.h"
#include "kcorefs/fuse/mount.h"
#include "kcorefs/base/log.h"

namespace kcorefs::cli {
namespace {

constexpr char kMountUsage[] =
    "usage: kcorefs mount [options] SOURCE MOUNTPOINT\n"
    "\n"
    "Serves SOURCE's memory as MOUNTPOINT/vmcore (kdump layout: crash, makedumpfile, drgn),\n"
    "MOUNTPOINT/kcore (/proc/kcore layout: gdb, drgn), MOUNTPOINT/vmcoreinfo and\n"
    "MOUNTPOINT/stats, and MOUNTPOINT/vmlinux when the kernel's vmlinux is known (gdb).\n"
    "Unmount with `fusermount3 -u MOUNTPOINT` or SIGINT/SIGTERM.\n"
    "\n"
    "  -f, --foreground        stay in the foreground (default: detach, log to syslog)\n"
    "  -d, --debug             print every FUSE request (implies -f)\n"
    "  -s, --single-thread     serve one request at a time\n"
    "  -o OPT[,OPT...]         allow_other,default_permissions (the two together), uid=N,\n"
    "                          gid=N, mode=OCTAL (default 0400),\n"
    "                          nonempty, splice, nosplice, readahead=KIB, direct_io,\n"
    "                          threads=N (default 16), clone_fd, timeout=SECONDS\n"
    "                          (each read's deadline, default 30), vmlinux=PATH,\n"
    "                          redact=user (user and free pages as holes: docs/security.md);\n"
    "                          any other\n"
    "                          KEY[=VALUE] is the backend's (`kcorefs backends`)\n"
    "      --fuse-fd-socket PATH   serve the mount `kcorefs premount MNT PATH` made (then\n"
    "                          no MOUNTPOINT; no privilege needed). MOUNTPOINT /dev/fd/N:\n"
    "                          an inherited /dev/fuse descriptor of such a mount\n"
    "      --vmcoreinfo FILE   use FILE's VMCOREINFO text instead of the source's\n"
    "      --vmlinux FILE      the kernel's vmlinux, served as MOUNTPOINT/vmlinux once its\n"
    "                          build id matches VMCOREINFO's BUILD-ID (default: Debian's\n"
    "                          /usr/lib/debug/boot/vmlinux-RELEASE if there; '' for none)\n"
    "  -v, --verbose           more diagnostics\n"
    "  -h, --help              this text\n";

// What the -o lists said about who may read, checked once they are all parsed.
struct AccessOpts {
  bool default_permissions = false;
};

bool ParseMountOpts(const std::string& list, fuse::MountOptions& opts,
                    SourceOptions& source_opts, AccessOpts& access) {
  for (absl::string_view o : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    uint32_t n;
    if (o == "allow_other") {
      opts.allow_other = true;
    } else if (o == "default_permissions") {
      access.default_permissions = true;  // always on; allow_other asks for it (CheckAccess)
    } else if (o == "ro") {
      // always on
    } else if (o == "nonempty") {
      opts.nonempty = true;
    } else if (o == "splice" || o == "nosplice") {
      opts.splice = o == "splice";
    } else if (absl::StartsWith(o, "readahead=")) {
      if (!absl::SimpleAtoi(o.substr(10), &n) || n > (1u << 20)) {
        std::fprintf(stderr, "kcorefs mount: bad readahead \"%.*s\" (KiB, 0 to 1048576)\n",
                     static_cast<int>(o.size() - 10), o.data() + 10);
        return false;
      }
      opts.readahead_kib = n;
    } else if (o == "direct_io") {
      opts.direct_io = true;
    } else if (absl::StartsWith(o, "timeout=")) {
      double secs;
      if (!absl::SimpleAtod(o.substr(8), &secs) || !(secs > 0) || secs > 86400) {
        std::fprintf(stderr, "kcorefs mount: bad timeout \"%.*s\" (seconds, more than 0)\n",
                     static_cast<int>(o.size() - 8), o.data() + 8);
        return false;
      }
      opts.read_timeout_s = secs;
    } else if (o == "clone_fd") {
      opts.clone_fd = true;
    } else if (absl::StartsWith(o, "threads=")) {
      if (!absl::SimpleAtoi(o.substr(8), &n) || n == 0 || n > 1024) {
        std::fprintf(stderr, "kcorefs mount: bad threads \"%.*s\" (1 to 1024)\n",
                     static_cast<int>(o.size() - 8), o.data() + 8);
        return false;
      }
      opts.max_threads = n;
    } else if (absl::StartsWith(o, "uid=") && absl::SimpleAtoi(o.substr(4), &n)) {
      opts.uid = n;
    } else if (absl::StartsWith(o, "gid=") && absl::SimpleAtoi(o.substr(4), &n)) {
      opts.gid = n;
    } else if (absl::StartsWith(o, "mode=")) {
      char* end = nullptr;
      std::string v(o.substr(5));
      unsigned long m = std::strtoul(v.c_str(), &end, 8);
      if (v.empty() || *end != '\0' || m > 0777) {
        std::fprintf(stderr, "kcorefs mount: bad mode \"%s\" (an octal number such as 0440)\n", v.c_str());
        return false;
      }
      opts.mode = static_cast<mode_t>(m & 0444);  // the files are read-only
    } else if (absl::Status s = ParseSourceOptionList(o, source_opts); !s.ok()) {
      // Anything else is the backend's; it validates its own keys when it opens.
      std::fprintf(stderr, "kcorefs mount: %s\n", std::string(s.message()).c_str());
      return false;
    }
  }
  return true;
}

// /etc/fuse.conf lets users other than root mount with allow_other (user_allow_other).
bool FuseConfAllowsOther() {
  std::ifstream conf("/etc/fuse.conf");
  std::string line;
  while (std::getline(conf, line)) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l == "user_allow_other") return true;
  }
  return false;
}

// allow_other opens the files to every user of the machine; only default_permissions makes
// the kernel check their mode and owner first (without it FUSE checks nothing), so asking
// for one without the other is refused rather than quietly completed.
bool CheckAccess(const fuse::MountOptions& opts, const AccessOpts& access) {
  if (!opts.allow_other) return true;
  if (!access.default_permissions) {
    std::fprintf(stderr,
                 "kcorefs mount: allow_other needs default_permissions: write -o "
                 "allow_other,default_permissions (and uid=, gid=, mode= for who may read). "
                 "Without it the kernel would let every user of this machine read the "
                 "kernel's memory, whatever the files' modes.\n");
    return false;
  }
  if (::getuid() != 0 && !FuseConfAllowsOther()) {
    base::LogWarning(
        "allow_other: /etc/fuse.conf has no user_allow_other line, so fusermount3 will refuse "
        "allow_other for a user other than root: add the line (as root) or mount as root");
  }
  return true;
}

}  // namespace

int MountCommand(int argc, char** argv) {
  static const struct option kLong[] = {
      {"foreground", no_argument, nullptr, 'f'}, {"debug", no_argument, nullptr, 'd'},
      {"single-thread", no_argument, nullptr, 's'}, {"verbose", no_argument, nullptr, 'v'},
      {"vmcoreinfo", required_argument, nullptr, 'V'}, {"help", no_argument, nullptr, 'h'},
      {"vmlinux", required_argument, nullptr, 'L'},
      {"fuse-fd-socket", required_argument, nullptr, 'S'}, {nullptr, 0, nullptr, 0}};
  fuse::MountOptions opts;
  SourceOptions source_opts;
  AccessOpts access;
  std::string fd_socket;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "fdsvo:h", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f': opts.foreground = true; break;
      case 'd': opts.debug = opts.foreground = true; break;
      case 's': opts.single_thread = true; break;
      case 'v': base::SetVerbose(true); break;
      case 'V': source_opts.vmcoreinfo_file = optarg; break;
      case 'S': fd_socket = optarg; break;
      case 'L':
        if (absl::Status s = SetVmlinuxOption(optarg, source_opts); !s.ok()) {
          base::LogError(std::string(s.message()));
          return 2;
        }
        break;
      case 'o':
        if (!ParseMountOpts(optarg, opts, source_opts, access)) return 2;
        break;
      case 'h': std::fputs(kMountUsage, stdout); return 0;
      default: std::fputs(kMountUsage, stderr); return 2;
    }
  }
  if (!CheckAccess(opts, access)) return 2;
  // --fuse-fd-socket: the mount was made by `kcorefs premount`; only SOURCE is given.
  base::UniqueFd premounted;
  if (!fd_socket.empty()) {
    if (argc - optind != 1) {
      std::fprintf(stderr, "kcorefs mount: with --fuse-fd-socket give SOURCE only (the mount "
                           "point is the one kcorefs premount mounted)\n");
      return 2;
    }
    auto fd = fuse::ReceiveFuseFd(fd_socket, absl::Now() + absl::Seconds(60));
    if (!fd.ok()) {
      base::LogError(std::string(fd.status().message()));
      return 1;
    }
    premounted = std::move(*fd);
  }
  const int positional = argc - optind + (premounted.valid() ? 1 : 0);
  if (positional != 2) {
    std::fprintf(stderr, "kcorefs mount: %s\n\n%s",
                 positional == 0   ? "no SOURCE or MOUNTPOINT given"
                 : positional == 1 ? "no MOUNTPOINT given"
                                      : "too many arguments (SOURCE MOUNTPOINT expected)",
                 kMountUsage);
    return 2;
  }
  std::string source = argv[optind];
  // libfuse owns a /dev/fd/N descriptor from here (it closes it when the session ends).
  opts.mountpoint = premounted.valid() ? absl::StrCat("/dev/fd/", premounted.Release())
                                       : std::string(argv[optind + 1]);
  // Options and the source's backend are checked before anything forks or mounts.
  auto resolved = backends::ResolveBackend(source);
  absl::Status checked = resolved.ok() ? source_opts.config.Check(resolved->factory->name(),
                                                                  resolved->factory->keys())
                                       : resolved.status();
  if (!checked.ok()) {
    base::LogError(std::string(checked.message()));
    return 1;
  }
  // The gdb command is printed with the mount point as the user will type it: absolute,
  // since the daemon's working directory is /.
  char real[PATH_MAX];
  std::string shown = ::realpath(opts.mountpoint.c_str(), real) ? real : opts.mountpoint;
  // The backend is opened by the serving process, after the daemon has forked.
  return fuse::RunMount(
      [&]() -> absl::StatusOr<std::unique_ptr<backends::Backend>> {
        auto backend = OpenSource(source, source_opts);
        if (!backend.ok()) return backend;
        auto snap = (*backend)->Current();
        if (snap.ok() && (*snap)->redaction.has_value()) {
          base::LogInfo((*snap)->redaction->Describe());
        }
        if (snap.ok()) {
          // When gdb needs more than `gdb vmlinux MNT/kcore`, say exactly what, for this mount.
          elf::GdbAdvice gdb = elf::AdviseGdb(**snap, shown, (*snap)->facts.vmlinux != nullptr);
          if (!gdb.warning.empty()) {
            base::LogWarning(absl::StrCat("gdb: ", gdb.warning));
            base::LogWarning(absl::StrCat("gdb: ", gdb.per_cpu));
          } else if ((*snap)->facts.vmlinux != nullptr) {
            base::LogInfo(absl::StrCat("gdb: ", gdb.command));
          }
        }
        return backend;
      },
      opts);
}

}  // namespace kcorefs::cli
