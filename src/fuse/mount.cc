#include "kcorefs/fuse/mount.h"

#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fuse/filesystem.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"
#include "kcorefs/base/unique_fd.h"
#include "kcorefs/elf/core_view.h"
#include "kcorefs/fuse/fd_pass.h"
#include "kcorefs/io/mountinfo.h"
#include "kcorefs/io/small_file.h"

namespace kcorefs::fuse {
namespace {

// fuse_args wants mutable C strings that outlive the session setup.
class Args {
 public:
  void Add(std::string s) { storage_.push_back(std::move(s)); }
  fuse_args Get() {
    ptrs_.clear();
    for (std::string& s : storage_) ptrs_.push_back(s.data());
    return FUSE_ARGS_INIT(static_cast<int>(ptrs_.size()), ptrs_.data());
  }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> ptrs_;
};

struct SessionDeleter {
  void operator()(fuse_session* se) const { fuse_session_destroy(se); }
};

// The detaching parent waits on this pipe: one byte, 0 for "mounted", from the child.
class ReadyPipe {
 public:
  void Set(int write_fd) { fd_.Reset(write_fd); }
  void Signal(bool ok) {
    if (!fd_.valid()) return;
    char c = ok ? 0 : 1;
    (void)!::write(fd_.get(), &c, 1);
    fd_.Reset();
  }

 private:
  base::UniqueFd fd_;
};

// Forks; the parent waits for the child's verdict and exits with it. Returns in the child.
void Detach(ReadyPipe& ready) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    base::LogError("cannot create a pipe to detach; staying in the foreground");
    return;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    base::LogError("cannot fork to detach; staying in the foreground");
    ::close(fds[0]);
    ::close(fds[1]);
    return;
  }
  if (pid > 0) {
    ::close(fds[1]);
    char c = 1;
    ssize_t n;
    do n = ::read(fds[0], &c, 1); while (n < 0 && errno == EINTR);
    _exit(n == 1 && c == 0 ? 0 : 1);
  }
  ::close(fds[0]);
  ready.Set(fds[1]);
  ::setsid();
}

// Stdio to /dev/null and the log to syslog, once the parent has gone.
void FinishDetach() {
  base::UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (null.valid()) {
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null.get(), fd);
  }
  if (::chdir("/") != 0) {}
  base::LogToSyslog();
}

// The device ("MAJOR:MINOR") of what is mounted at `path`, or "" when nothing is.
std::string MountedDevice(const std::string& path) {
  auto top = io::TopMountAt(path);
  return top ? top->device : "";
}

bool IsMountPoint(const std::string& path) { return !MountedDevice(path).empty(); }

// The kernel reads ahead on a FUSE file by its bdi's read_ahead_kb, 128 KiB unless raised,
// and INIT can only lower it. A sequential first read through the page cache runs about
// twice as fast with a window of a few requests (docs/performance.md, "Readahead"), so
// the daemon raises it; only root may write sysfs, and other mounts keep 128 KiB.
void SetReadahead(const std::string& mountpoint, uint32_t kib) {
  std::string device = MountedDevice(mountpoint);
  std::string path = absl::StrCat("/sys/class/bdi/", device, "/read_ahead_kb");
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  std::string value = absl::StrCat(kib);
  if (device.empty() || !fd.valid() ||
      ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    base::LogInfo(absl::StrCat("cannot set the readahead window to ", kib, " KiB (", path,
                               ": ", std::strerror(errno), "); it stays the kernel's"));
  }
}

// The largest READ a splicing reply can carry whole. libfuse splices a reply through a
// pipe it sizes to the reply plus three pages; past /proc/sys/fs/pipe-max-size (1 MiB by
// default) only CAP_SYS_RESOURCE may grow a pipe, and without it libfuse copies every
// reply that does not fit. So without that capability requests stay 4 pages under the cap.
uint32_t SpliceMaxRead() {
  constexpr uint32_t kWant = 1 << 20;
  constexpr uint32_t kSlack = 4 * 4096;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return kWant;
  bool grows = ::fcntl(fds[1], F_SETPIPE_SZ, kWant + kSlack) >= 0;
  ::close(fds[0]);
  ::close(fds[1]);
  if (grows) return kWant;
  auto text = io::ReadSmallFile("/proc/sys/fs/pipe-max-size", 64);
  uint32_t cap = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &cap) ||
      cap < 2 * kSlack) {
    return kWant;
  }
  return std::min(kWant, (cap - kSlack) / 4096 * 4096);
}

int Serve(fuse_session* se, const MountOptions& options) {
  if (options.single_thread) return fuse_session_loop(se);
  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, options.clone_fd ? 1 : 0);
  fuse_loop_cfg_set_max_threads(cfg, options.max_threads);
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  return rc;
}

}  // namespace

// The value a normal mount of this machine would take: both sides compute it alike.
uint32_t FdMaxRead() { return SpliceMaxRead(); }

absl::Status CheckPremountedFd(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 ||
      minor(st.st_rdev) != 229) {
    return absl::InvalidArgumentError(absl::StrCat(
        "/dev/fd/", fd, " is not an open /dev/fuse descriptor (a mount made by kcorefs premount, "
        "passed with --fuse-fd-socket or inherited)"));
  }
  return absl::OkStatus();
}

absl::Status CheckMountpoint(const std::string& path, bool nonempty) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    // A FUSE mount whose daemon died (SIGKILL, a crash) stays mounted with nobody serving
    // it: every access is ENOTCONN until it is unmounted.
    if (err == ENOTCONN) {
      return base::ErrnoError(err, absl::StrCat(
          "mount point ", path, " is a dead FUSE mount (its daemon exited without unmounting); "
          "run `fusermount3 -u ", path, "` (or, as root, `umount -l ", path,
          "`), then mount again"));
    }
    if (err == ENOENT) {
      return base::ErrnoError(err, absl::StrCat("mount point ", path, " (create it with mkdir)"));
    }
    return base::ErrnoError(err, absl::StrCat("mount point ", path));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("mount point ", path, " is not a directory; give an empty directory"));
  }
  if (IsMountPoint(path)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "something is already mounted at ", path, "; unmount it first (fusermount3 -u ", path,
        ") or choose another directory"));
  }
  if (!nonempty) {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), ::closedir);
    if (dir != nullptr) {
      while (struct dirent* e = ::readdir(dir.get())) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "mount point ", path, " is not empty (it holds ", e->d_name,
              "); the mount would hide its contents: use an empty directory, or -o nonempty"));
        }
      }
    }
  }
  return absl::OkStatus();
}

int RunMount(const BackendOpener& open, const MountOptions& options) {
  // /dev/fd/N: someone privileged mounted it and gave us the /dev/fuse descriptor.
  const std::optional<int> premounted = PremountedFd(options.mountpoint);
  absl::Status usable = premounted ? CheckPremountedFd(*premounted)
                                   : CheckMountpoint(options.mountpoint, options.nonempty);
  if (!usable.ok()) {
    base::LogError(std::string(usable.message()));
    return 1;
  }
  ReadyPipe ready;
  // Fork before the backend exists: a backend's threads and connections are made in the
  // process that serves (docs/backend-api.md, "Lifecycle").
  if (!options.foreground) Detach(ready);
  auto fail = [&ready](const std::string& message) {
    base::LogError(message);
    ready.Signal(false);
    return 1;
  };
  auto opened = open();
  if (!opened.ok()) return fail(std::string(opened.status().message()));
  std::unique_ptr<backends::Backend> backend = std::move(*opened);
  std::string source = backend->source();
  auto snap = backend->Current();
  if (!snap.ok()) return fail(std::string(snap.status().message()));
  for (const std::string& w : (*snap)->warnings) base::LogWarning(w);
  FileOwnership owner{options.uid.value_or(getuid()), options.gid.value_or(getgid()),
                      options.mode.value_or(0400)};
  ReadPathOptions read_path;
  // Splicing by default: 1.2-1.4x the sequential throughput of copying at two thirds of
  // the daemon's CPU, and the same latency for small reads, which are copied anyway
  // (docs/performance.md, "Splice").
  read_path.splice = options.splice.value_or(true);
  if (read_path.splice) read_path.max_read = SpliceMaxRead();
  if (premounted) {
    // The mount's max_read was set by whoever mounted it (PremountFuse): use the same.
    if (read_path.max_read < FdMaxRead()) read_path.splice = false;
    read_path.max_read = FdMaxRead();
  }
  read_path.direct_io = options.direct_io;
  read_path.read_timeout = absl::Seconds(options.read_timeout_s);
  const uint32_t readahead_kib = options.readahead_kib.value_or(4 * read_path.max_read / 1024);
  read_path.readahead = std::max(readahead_kib << 10, read_path.max_read);
  Filesystem fs(std::move(backend), owner, read_path);
  for (const elf::ViewType* type : elf::ViewTypes()) {
    if (!type->applies(**snap)) continue;
    auto view = fs.View(*type);  // logs the view's warnings (e.g. the gdb symbol-file hint)
    if (!view.ok()) {
      return fail(absl::StrCat(source, ": cannot build the ", type->name,
                               " view: ", view.status().message()));
    }
  }

  Args args;
  args.Add("kcorefs");
  if (options.debug) args.Add("-d");
  std::string opts =
      absl::StrCat("ro,fsname=kcorefs,subtype=kcorefs,max_read=", fs.read_path().max_read);
  // Other users may read only what the file modes allow them to.
  if (options.allow_other) absl::StrAppend(&opts, ",allow_other,default_permissions");
  args.Add("-o");
  args.Add(opts);
  fuse_args fargs = args.Get();
  std::unique_ptr<fuse_session, SessionDeleter> se(
      fuse_session_new(&fargs, &Filesystem::Operations(), sizeof(fuse_lowlevel_ops), &fs));
  // Parsing copies the arguments it keeps into memory of its own (fargs.allocated).
  fuse_opt_free_args(&fargs);
  if (!se) return fail("cannot create the FUSE session (see the message above)");
  fs.set_session(se.get());
  // A shell starts background jobs with SIGINT ignored, and libfuse keeps an ignored
  // disposition; `kill -INT` must still unmount cleanly, so both stop signals start from
  // their defaults. (SIGHUP stays as inherited: nohup means it.)
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (fuse_set_signal_handlers(se.get()) != 0) return fail("cannot install signal handlers");
  if (fuse_session_mount(se.get(), options.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se.get());
    return fail(absl::StrCat("cannot mount at ", options.mountpoint, ": is /dev/fuse usable?"));
  }
  // Before the loop answers INIT, which keeps the smaller of the two windows.
  if (!fs.caps().bytes_volatile && !options.direct_io && !premounted) {
    SetReadahead(options.mountpoint, readahead_kib);
  }
  if (absl::Status s = fs.backend().Start(); !s.ok()) {
    fuse_session_unmount(se.get());
    fuse_remove_signal_handlers(se.get());
    return fail(absl::StrCat(source, ": cannot start the backend: ", s.message()));
  }
  base::LogInfo(absl::StrCat("serving ", source, " at ", options.mountpoint));
  ready.Signal(true);
  if (!options.foreground) FinishDetach();
  int rc = Serve(se.get(), options);
  base::LogInfo(absl::StrCat("unmounting ", options.mountpoint, "; read ",
                             fs.backend().bytes_read(), " bytes from ", source));
  fuse_session_unmount(se.get());
  fuse_remove_signal_handlers(se.get());
  fs.backend().Close();
  // The loop returns the signal that ended it: SIGINT, SIGTERM and SIGHUP are documented
  // ways to unmount, not failures.
  bool clean = rc == 0 || rc == SIGINT || rc == SIGTERM || rc == SIGHUP;
  if (!clean) base::LogError(absl::StrCat("the FUSE loop ended with error ", rc));
  return clean ? 0 : 1;
}

}  // namespace kcorefs::fuse
