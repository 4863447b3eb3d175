#include "fuse/mount.h"

#include <fuse_lowlevel.h>
#include <unistd.h>

#include <csignal>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuse/filesystem.h"
#include "kcorefs/base/log.h"
#include "kcorefs/elf/core_view.h"

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

}  // namespace

int RunMount(std::unique_ptr<backends::Backend> backend, const MountOptions& options) {
  std::string source = backend->source();
  auto snap = backend->Current();
  if (!snap.ok()) {
    base::LogError(std::string(snap.status().message()));
    return 1;
  }
  for (const std::string& w : (*snap)->warnings) base::LogWarning(w);
  FileOwnership owner{options.uid.value_or(getuid()), options.gid.value_or(getgid()),
                      options.mode.value_or(0400)};
  Filesystem fs(std::move(backend), owner);
  for (elf::ViewKind kind : elf::kAllViews) {
    auto view = fs.View(kind);  // logs the view's warnings (e.g. the gdb symbol-file hint)
    if (!view.ok()) {
      base::LogError(absl::StrCat(source, ": cannot build the ", elf::ViewName(kind),
                                  " view: ", view.status().message()));
      return 1;
    }
  }

  Args args;
  args.Add("kcorefs");
  if (options.debug) args.Add("-d");
  std::string opts = absl::StrCat("ro,fsname=kcorefs,subtype=kcorefs,max_read=", 1 << 20);
  // Other users may read only what the file modes allow them to.
  if (options.allow_other) absl::StrAppend(&opts, ",allow_other,default_permissions");
  args.Add("-o");
  args.Add(opts);
  fuse_args fargs = args.Get();
  std::unique_ptr<fuse_session, SessionDeleter> se(
      fuse_session_new(&fargs, &Filesystem::Operations(), sizeof(fuse_lowlevel_ops), &fs));
  if (!se) {
    base::LogError("cannot create the FUSE session (see the message above)");
    return 1;
  }
  // A shell starts background jobs with SIGINT ignored, and libfuse keeps an ignored
  // disposition; `kill -INT` must still unmount cleanly, so both stop signals start from
  // their defaults. (SIGHUP stays as inherited: nohup means it.)
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (fuse_set_signal_handlers(se.get()) != 0) {
    base::LogError("cannot install signal handlers");
    return 1;
  }
  if (fuse_session_mount(se.get(), options.mountpoint.c_str()) != 0) {
    base::LogError(absl::StrCat("cannot mount at ", options.mountpoint,
                                ": is it an empty directory, and is /dev/fuse usable?"));
    fuse_remove_signal_handlers(se.get());
    return 1;
  }
  base::LogInfo(absl::StrCat("serving ", source, " at ", options.mountpoint));
  if (!options.foreground) {
    if (fuse_daemonize(0) != 0) {
      fuse_session_unmount(se.get());
      fuse_remove_signal_handlers(se.get());
      return 1;
    }
    base::LogToSyslog();
  }
  int rc;
  if (options.single_thread) {
    rc = fuse_session_loop(se.get());
  } else {
    struct fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, 16);
    rc = fuse_session_loop_mt(se.get(), cfg);
    fuse_loop_cfg_destroy(cfg);
  }
  base::LogInfo(absl::StrCat("unmounting ", options.mountpoint, "; read ",
                             fs.backend().bytes_read(), " bytes from ", source));
  fuse_session_unmount(se.get());
  fuse_remove_signal_handlers(se.get());
  return rc == 0 ? 0 : 1;
}

}  // namespace kcorefs::fuse
