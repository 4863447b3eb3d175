#include "kcorefs/fuse/fd_pass.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/fuse/mount.h"

namespace kcorefs::fuse {
namespace {

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path ", path, " is too long (",
                                                   sizeof(a.sun_path) - 1, " bytes at most)"));
  }
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

int MillisUntil(absl::Time deadline) {
  int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  return ms < 0 ? 0 : ms > 60000 ? 60000 : static_cast<int>(ms);
}

// One byte with room for one descriptor beside it, for sendmsg and recvmsg alike.
struct FdMessage {
  FdMessage() {
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
  char byte = 'F';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
};

bool IsDevFuse(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 &&
         minor(st.st_rdev) == 229;
}

}  // namespace

std::optional<int> PremountedFd(const std::string& mountpoint) {
  int n;
  if (!absl::StartsWith(mountpoint, "/dev/fd/") || !absl::SimpleAtoi(mountpoint.substr(8), &n) ||
      n < 0) {
    return std::nullopt;
  }
  return n;
}

absl::StatusOr<base::UniqueFd> PremountFuse(const PremountOptions& o) {
  if (absl::Status s = CheckMountpoint(o.mountpoint, o.nonempty); !s.ok()) return s;
  base::UniqueFd fd(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    return base::ErrnoError(errno, "open /dev/fuse (the agent needs the device: --device /dev/fuse)");
  }
  std::string data = absl::StrCat("fd=", fd.get(), ",rootmode=40000,user_id=", o.server_uid,
                                  ",group_id=", o.server_gid, ",max_read=", o.max_read);
  if (o.allow_other) absl::StrAppend(&data, ",allow_other,default_permissions");
  if (::mount("kcorefs", o.mountpoint.c_str(), "fuse.kcorefs", MS_RDONLY | MS_NOSUID | MS_NODEV,
              data.c_str()) != 0) {
    const int err = errno;
    return base::ErrnoError(err, absl::StrCat("mount ", o.mountpoint, err == EPERM
        ? " (mount(2) needs CAP_SYS_ADMIN: run the agent privileged)" : ""));
  }
  return fd;
}

absl::Status SendFdOnce(const std::string& socket_path, int fd, uid_t owner, gid_t group,
                        absl::Time deadline) {
  auto addr = UnixAddress(socket_path);
  if (!addr.ok()) return addr.status();
  base::UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return base::ErrnoError(errno, "socket");
  ::unlink(socket_path.c_str());
  // Created private, then handed to the server's user only: the descriptor is the mount.
  mode_t old = ::umask(0177);
  int rc = ::bind(s.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
  ::umask(old);
  if (rc != 0) return base::ErrnoError(errno, absl::StrCat("bind ", socket_path));
  struct Unlink {
    const std::string& p;
    ~Unlink() { ::unlink(p.c_str()); }
  } unlink_at_exit{socket_path};
  if (::chown(socket_path.c_str(), owner, group) != 0) {
    return base::ErrnoError(errno, absl::StrCat("chown ", socket_path));
  }
  if (::listen(s.get(), 1) != 0) return base::ErrnoError(errno, absl::StrCat("listen ", socket_path));
  pollfd p{s.get(), POLLIN, 0};
  while (true) {
    int n = ::poll(&p, 1, MillisUntil(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(errno, "poll");
    if (n == 0 && absl::Now() >= deadline) {
      return base::DeadlineError(absl::StrCat("no server connected to ", socket_path,
                                              " in time to take the mount"));
    }
    if (n > 0) break;
  }
  base::UniqueFd c(::accept4(s.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!c.valid()) return base::ErrnoError(errno, absl::StrCat("accept on ", socket_path));
  FdMessage msg;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg.m);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  if (::sendmsg(c.get(), &msg.m, MSG_NOSIGNAL) != 1) {
    return base::ErrnoError(errno, absl::StrCat("send the /dev/fuse descriptor on ", socket_path));
  }
  return absl::OkStatus();
}

absl::StatusOr<base::UniqueFd> ReceiveFuseFd(const std::string& socket_path, absl::Time deadline) {
  auto addr = UnixAddress(socket_path);
  if (!addr.ok()) return addr.status();
  base::UniqueFd s;
  while (true) {
    s = base::UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s.valid()) return base::ErrnoError(errno, "socket");
    if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) == 0) break;
    const int err = errno;
    if ((err != ENOENT && err != ECONNREFUSED) || absl::Now() >= deadline) {
      return base::ErrnoError(err, absl::StrCat("connect to ", socket_path,
                                                " (is the agent's kcorefs premount running?)"));
    }
    ::usleep(50000);
  }
  pollfd p{s.get(), POLLIN, 0};
  if (::poll(&p, 1, MillisUntil(deadline)) <= 0) {
    return base::DeadlineError(absl::StrCat("no descriptor from ", socket_path, " in time"));
  }
  FdMessage msg;
  if (::recvmsg(s.get(), &msg.m, MSG_CMSG_CLOEXEC) != 1) {
    return base::ErrnoError(errno, absl::StrCat("receive from ", socket_path));
  }
  cmsghdr* cm = CMSG_FIRSTHDR(&msg.m);
  if (cm == nullptr || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
      cm->cmsg_len != CMSG_LEN(sizeof(int))) {
    return absl::InvalidArgumentError(absl::StrCat(socket_path, " sent no descriptor"));
  }
  int fd;
  std::memcpy(&fd, CMSG_DATA(cm), sizeof(int));
  base::UniqueFd got(fd);
  if (!IsDevFuse(got.get())) {
    return absl::InvalidArgumentError(absl::StrCat(socket_path, " sent a descriptor that is not /dev/fuse"));
  }
  return got;
}

}  // namespace kcorefs::fuse
