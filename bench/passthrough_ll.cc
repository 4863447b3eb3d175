// The yardstick for kcorefs' read path: a minimal low-level libfuse3 file system showing ONE
// backing file as MOUNTPOINT/data. It is set up as kcorefs mounts a dump file
// (src/fuse/mount.cc, src/fuse/filesystem.cc): options ro,max_read=1 MiB, max_readahead
// 1 MiB, async reads, keep_cache, one-hour attribute timeouts, the multi-threaded loop with
// at most 16 threads and no clone_fd. Only the extent lookup is missing. A read is, by mode:
//   copy (default)  pread() into a per-thread buffer and fuse_reply_buf();
//   --splice        libfuse's own zero-copy reply: a fuse_bufvec naming the backing fd
//                   (FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK) given to fuse_reply_data(), which
//                   splices it through a pipe (FUSE_CAP_SPLICE_WRITE);
//   --direct-io     either of the above on a file opened with direct_io (no page cache).
// --max-read BYTES sets max_read (a splicing reply must fit libfuse's pipe: see
// docs/performance.md); --readahead-kb N sets max_readahead and, as kcorefs does when it
// can, the read_ahead_kb of the mount's bdi (default: the kernel's 128 KiB).
//
//   passthrough_ll [--splice] [--direct-io] [--max-read N] [--readahead-kb N] BACKING_FILE MOUNTPOINT
//   (stays in the foreground; unmount with fusermount3 -u)
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr fuse_ino_t kData = 2;
int g_fd = -1;
struct stat g_st;
bool g_splice = false;
bool g_direct_io = false;
unsigned g_max_read = 1 << 20;
unsigned g_readahead_kb = 0;  // 0: leave the bdi as it is, max_readahead 1 MiB

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
  fi->keep_cache = g_direct_io ? 0 : 1;
  fi->direct_io = g_direct_io ? 1 : 0;
  fuse_reply_open(req, fi);
}

void ReadSplice(fuse_req_t req, size_t size, off_t off) {
  fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
  bv.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  bv.buf[0].fd = g_fd;
  bv.buf[0].pos = off;
  fuse_reply_data(req, &bv, static_cast<fuse_buf_copy_flags>(0));
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, struct fuse_file_info*) {
  if (g_splice) {
    ReadSplice(req, size, off);
    return;
  }
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

// The mount's bdi by its device in /proc/self/mountinfo; read_ahead_kb is written before
// the loop answers INIT (which keeps the smaller of it and max_readahead).
void SetReadahead(const char* mountpoint, unsigned kb) {
  char* real = ::realpath(mountpoint, nullptr);
  std::ifstream info("/proc/self/mountinfo");
  std::string line, device;
  while (real != nullptr && std::getline(info, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mp;
    f >> id >> parent >> dev >> root >> mp;
    if (mp == real) device = dev;
  }
  std::free(real);
  std::ofstream("/sys/class/bdi/" + device + "/read_ahead_kb") << kb;
}

void Release(fuse_req_t req, fuse_ino_t, struct fuse_file_info*) { fuse_reply_err(req, 0); }

void Init(void*, struct fuse_conn_info* conn) {
  conn->max_readahead = g_readahead_kb ? g_readahead_kb << 10 : 1 << 20;
  conn->max_read = g_max_read;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (g_splice && (conn->capable & FUSE_CAP_SPLICE_WRITE)) conn->want |= FUSE_CAP_SPLICE_WRITE;
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (a == "--splice") g_splice = true;
    else if (a == "--direct-io") g_direct_io = true;
    else if (a == "--max-read" && i + 1 < argc) g_max_read = std::stoul(argv[++i]);
    else if (a == "--readahead-kb" && i + 1 < argc) g_readahead_kb = std::stoul(argv[++i]);
    else break;
  }
  if (argc - i != 2) {
    std::fprintf(stderr, "usage: passthrough_ll [--splice] [--direct-io] [--max-read N] "
                         "[--readahead-kb N] BACKING_FILE MOUNTPOINT\n");
    return 2;
  }
  const char* backing = argv[i];
  const char* mountpoint = argv[i + 1];
  g_fd = ::open(backing, O_RDONLY | O_CLOEXEC);
  if (g_fd < 0 || ::fstat(g_fd, &g_st) != 0) {
    std::perror(backing);
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

  std::string opts = "ro,fsname=passthrough,subtype=passthrough,max_read=" + std::to_string(g_max_read);
  char arg0[] = "passthrough_ll";
  char o[] = "-o";
  char* av[] = {arg0, o, opts.data(), nullptr};
  fuse_args args = FUSE_ARGS_INIT(3, av);
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), nullptr);
  if (se == nullptr) return 1;
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, mountpoint) != 0) {
    fuse_session_destroy(se);
    return 1;
  }
  if (g_readahead_kb) SetReadahead(mountpoint, g_readahead_kb);
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
