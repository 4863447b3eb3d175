// What is mounted where, from /proc/self/mountinfo: the registry asks whether a SOURCE is
// a kcorefs mount, the FUSE edge which device backs a mount point.
#ifndef KCOREFS_IO_MOUNTINFO_H_
#define KCOREFS_IO_MOUNTINFO_H_

#include <optional>
#include <string>

namespace kcorefs::io {

struct MountEntry {
  std::string device;       // "MAJOR:MINOR"
  std::string mount_point;  // unescaped
  std::string fs_type;      // "fuse.kcorefs"
};

// The mount on top at `path` (resolved with realpath), or nullopt when nothing is mounted
// there (or mountinfo cannot be read).
std::optional<MountEntry> TopMountAt(const std::string& path);

}  // namespace kcorefs::io

#endif  // KCOREFS_IO_MOUNTINFO_H_
