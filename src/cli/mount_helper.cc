// mount.kcorefs / mount.fuse.kcorefs: what mount(8) runs for `mount -t kcorefs` or
// `mount -t fuse.kcorefs` and for /etc/fstab lines of those types. mount(8) calls
//   mount.TYPE SOURCE MOUNTPOINT [-s] [-f] [-n] [-v] [-N NS] [-o OPTIONS] [-t TYPE]
// and OPTIONS holds mount(8)'s and fstab's own words (defaults, noauto, nofail, rw,
// x-systemd.*, ...) among kcorefs's. Those are dropped here; the rest goes to
// `kcorefs mount -o ...`, which checks it as on the command line.
#include <getopt.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"

namespace kcorefs::cli {
namespace {

// Options that mean something to mount(8), fstab or the VFS and nothing to kcorefs: the
// files are read-only, nosuid and nodev whatever is asked (rw is accepted so that fstab's
// `defaults` works; nothing can be written anyway).
bool IsMountWord(absl::string_view o) {
  static constexpr absl::string_view kWords[] = {
      "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group", "nofail",
      "_netdev", "rw", "ro", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime",
      "noatime", "relatime", "norelatime", "strictatime", "diratime", "nodiratime", "sync",
      "async", "loud", "silent", "lazytime", "nolazytime"};
  for (absl::string_view w : kWords) {
    if (o == w) return true;
  }
  return absl::StartsWith(o, "x-") || absl::StartsWith(o, "comment=");
}

constexpr char kHelperUsage[] =
    "usage: mount.kcorefs SOURCE MOUNTPOINT [-o OPTIONS]  (run by mount -t fuse.kcorefs)\n";

}  // namespace

int MountHelper(int argc, char** argv) {
  if (argc < 3) {
    std::fputs(kHelperUsage, stderr);
    return 2;
  }
  const std::string source = argv[1], mountpoint = argv[2];
  std::vector<std::string> keep;
  bool fake = false, verbose = false;
  optind = 3;
  int c;
  while ((c = getopt(argc, argv, "sfnvN:o:t:")) != -1) {
    switch (c) {
      case 's': case 'n': case 't': break;  // sloppy, no mtab, type: nothing to do
      case 'f': fake = true; break;
      case 'v': verbose = true; break;
      case 'N':
        std::fprintf(stderr, "mount.kcorefs: -N (mount namespace) is not supported: run mount "
                             "inside the namespace (nsenter -m)\n");
        return 2;
      case 'o':
        for (absl::string_view o : absl::StrSplit(optarg, ',', absl::SkipEmpty())) {
          if (!IsMountWord(o)) keep.emplace_back(o);
        }
        break;
      default: std::fputs(kHelperUsage, stderr); return 2;
    }
  }
  if (optind != argc) {
    std::fputs(kHelperUsage, stderr);
    return 2;
  }
  if (fake) return 0;  // mount -f: do everything but the mount
  std::vector<std::string> args = {"mount"};
  if (verbose) args.push_back("-v");
  if (!keep.empty()) {
    args.push_back("-o");
    args.push_back(absl::StrJoin(keep, ","));
  }
  args.push_back(source);
  args.push_back(mountpoint);
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  return MountCommand(static_cast<int>(args.size()), cargs.data());
}

}  // namespace kcorefs::cli
