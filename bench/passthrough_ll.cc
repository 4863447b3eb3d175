// The yardstick for kcorefs' read path: a minimal low-level libfuse3 file system showing ONE
// backing file as MOUNTPOINT/data. It is set up exactly as kcorefs mounts a dump file
// (src/fuse/mount.cc, src/fuse/filesystem.cc): options ro,max_read=1 MiB, max_readahead
// 1 MiB, async reads, keep_cache, one-hour attribute timeouts, the multi-threaded loop with
// at most 16 threads and no clone_fd; a read is a pread() into a per-thread buffer and a
// fuse_reply_buf(), as kcorefs does. Only the extent lookup is missing.
//
//   passthrough_ll BACKING_FILE MOUNTPOINT      (stays in the foreground; fusermount3 -u)
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr fuse_ino_t kData = 2;
int g_fd = -1;
struct stat g_st;

void FillAttr(fuse_ino_t ino, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = ino;
  st->st_uid = getuid();
  st->st_gid = getgid();
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
  } else {
    st->st_mode = S_IFREG | 0400;
    st->st_nlink = 1;
    st->st_size = g_st.st_size;
    st->st_mtim = g_st.st_mtim;
  }
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != FUSE_ROOT_ID || std::strcmp(name, "data") != 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct fuse_entry_param ep;
  std::memset(&ep, 0, sizeof(ep));
  ep.ino = kData;
  ep.attr_timeout = ep.entry_timeout = 3600.0;
  FillAttr(kData, &ep.attr);
  fuse_reply_entry(req, &ep);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  if (ino != FUSE_ROOT_ID && ino != kData) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct stat st;
  FillAttr(ino, &st);
  fuse_reply_attr(req, &st, 3600.0);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  const char* names[] = {".", "..", "data"};
  fuse_ino_t inos[] = {FUSE_ROOT_ID, FUSE_ROOT_ID, kData};
  for (off_t i = off; i < 3; ++i) {
    struct stat st;
    std::memset(&st, 0, sizeof(st));
    st.st_ino = inos[i];
    st.st_mode = i < 2 ? S_IFDIR : S_IFREG;
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, names[i], &st, i + 1);
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void Open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (ino != kData) {
    fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
    return;
  }
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, struct fuse_file_info*) {
  thread_local std::vector<char> buf;
  if (buf.size() < size) buf.resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(g_fd, buf.data() + done, size - done, off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      fuse_reply_err(req, errno);
      return;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  fuse_reply_buf(req, buf.data(), done);
}

void Release(fuse_req_t req, fuse_ino_t, struct fuse_file_info*) { fuse_reply_err(req, 0); }

void Init(void*, struct fuse_conn_info* conn) {
  conn->max_readahead = 1 << 20;
  conn->max_read = 1 << 20;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: passthrough_ll BACKING_FILE MOUNTPOINT\n");
    return 2;
  }
  g_fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
  if (g_fd < 0 || ::fstat(g_fd, &g_st) != 0) {
    std::perror(argv[1]);
    return 1;
  }
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof(ops));
  ops.init = Init;
  ops.lookup = Lookup;
  ops.getattr = GetAttr;
  ops.readdir = ReadDir;
  ops.open = Open;
  ops.read = Read;
  ops.release = Release;

  std::string opts = "ro,fsname=passthrough,subtype=passthrough,max_read=" + std::to_string(1 << 20);
  char arg0[] = "passthrough_ll";
  char o[] = "-o";
  char* av[] = {arg0, o, opts.data(), nullptr};
  fuse_args args = FUSE_ARGS_INIT(3, av);
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), nullptr);
  if (se == nullptr) return 1;
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[2]) != 0) {
    fuse_session_destroy(se);
    return 1;
  }
  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  fuse_loop_cfg_set_max_threads(cfg, 16);
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return rc == 0 ? 0 : 1;
}
