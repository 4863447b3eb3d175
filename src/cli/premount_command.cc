// `kcorefs premount`: the privileged half of an unprivileged mount (docs/sidecar.md). It
// mounts /dev/fuse at MOUNTPOINT and hands the descriptor to the first kcorefs that
// connects to SOCKET (`kcorefs mount --fuse-fd-socket SOCKET SOURCE`, which then needs no
// privilege), then exits. The mount stays until someone unmounts it.
#include <getopt.h>
#include <sys/mount.h>

#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "kcorefs/base/log.h"
#include "kcorefs/fuse/fd_pass.h"

namespace kcorefs::cli {
namespace {

constexpr char kPremountUsage[] =
    "usage: kcorefs premount [-o OPTS] [--wait SECONDS] MOUNTPOINT SOCKET\n"
    "\n"
    "Mounts a kcorefs FUSE file system at MOUNTPOINT (needs CAP_SYS_ADMIN and /dev/fuse) and\n"
    "gives its /dev/fuse descriptor to the first `kcorefs mount --fuse-fd-socket SOCKET\n"
    "SOURCE` that connects, which then serves it with no privilege. Exits once handed over.\n"
    "\n"
    "  -o uid=N,gid=N          the server's user and group (they own SOCKET, mode 0600)\n"
    "  -o allow_other,default_permissions   let other users in, file modes checked\n"
    "  -o nonempty             mount over a non-empty directory\n"
    "      --wait SECONDS      how long to wait for the server (default 60); then unmount\n";

}  // namespace

int PremountCommand(int argc, char** argv) {
  static const struct option kLong[] = {{"wait", required_argument, nullptr, 'w'},
                                        {"help", no_argument, nullptr, 'h'},
                                        {nullptr, 0, nullptr, 0}};
  fuse::PremountOptions opts;
  opts.max_read = fuse::FdMaxRead();
  bool allow_other = false, default_permissions = false;
  double wait_s = 60;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "o:h", kLong, nullptr)) != -1) {
    switch (c) {
      case 'o':
        for (absl::string_view o : absl::StrSplit(optarg, ',', absl::SkipEmpty())) {
          uint32_t n;
          if (o == "allow_other") allow_other = true;
          else if (o == "default_permissions") default_permissions = true;
          else if (o == "nonempty") opts.nonempty = true;
          else if (o.substr(0, 4) == "uid=" && absl::SimpleAtoi(o.substr(4), &n)) opts.server_uid = n;
          else if (o.substr(0, 4) == "gid=" && absl::SimpleAtoi(o.substr(4), &n)) opts.server_gid = n;
          else {
            std::fprintf(stderr, "kcorefs premount: unknown option \"%.*s\"\n\n%s",
                         static_cast<int>(o.size()), o.data(), kPremountUsage);
            return 2;
          }
        }
        break;
      case 'w':
        if (!absl::SimpleAtod(optarg, &wait_s) || !(wait_s > 0)) {
          std::fprintf(stderr, "kcorefs premount: bad --wait \"%s\" (seconds)\n", optarg);
          return 2;
        }
        break;
      case 'h': std::fputs(kPremountUsage, stdout); return 0;
      default: std::fputs(kPremountUsage, stderr); return 2;
    }
  }
  if (argc - optind != 2) {
    std::fputs(kPremountUsage, stderr);
    return 2;
  }
  if (allow_other && !default_permissions) {
    std::fprintf(stderr, "kcorefs premount: allow_other needs default_permissions: write -o "
                         "allow_other,default_permissions (without it FUSE checks no "
                         "permission and every user could read the kernel's memory)\n");
    return 2;
  }
  opts.allow_other = allow_other;
  opts.mountpoint = argv[optind];
  const std::string socket = argv[optind + 1];
  auto fd = fuse::PremountFuse(opts);
  if (!fd.ok()) {
    base::LogError(std::string(fd.status().message()));
    return 1;
  }
  base::LogInfo(absl::StrCat("mounted ", opts.mountpoint, "; waiting on ", socket,
                             " for the server (uid ", opts.server_uid, ")"));
  absl::Status sent = fuse::SendFdOnce(socket, fd->get(), opts.server_uid, opts.server_gid,
                                       absl::Now() + absl::Seconds(wait_s));
  if (!sent.ok()) {
    base::LogError(absl::StrCat(sent.message(), "; unmounting ", opts.mountpoint));
    fd->Reset();
    ::umount2(opts.mountpoint.c_str(), MNT_DETACH);
    return 1;
  }
  base::LogInfo(absl::StrCat("handed ", opts.mountpoint, " to the server on ", socket));
  return 0;
}

}  // namespace kcorefs::cli
