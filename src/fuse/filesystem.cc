#include "absl/strings/string_view.h"
#include "fuse/filesystem.h"

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuse/errno_map.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"

namespace kcorefs::fuse {
namespace {

// Fixed inode numbers: the directory is small and never changes shape.
enum Inode : fuse_ino_t { kRoot = FUSE_ROOT_ID, kVmcore, kKcore, kVmcoreinfo, kStats, kInodeEnd };

struct Entry {
  const char* name;
  fuse_ino_t ino;
};
constexpr Entry kEntries[] = {
    {"vmcore", kVmcore}, {"kcore", kKcore}, {"vmcoreinfo", kVmcoreinfo}, {"stats", kStats}};

elf::ViewKind KindOf(fuse_ino_t ino) {
  switch (ino) {
    case kKcore: return elf::ViewKind::kKcore;
    case kVmcoreinfo: return elf::ViewKind::kVmcoreinfo;
    default: return elf::ViewKind::kVmcore;
  }
}

// What an open file pins: the view of the epoch it was opened in, or the stats text.
struct Handle {
  std::shared_ptr<const elf::CoreView> view;
  std::string text;
};

Filesystem* Fs(fuse_req_t req) { return static_cast<Filesystem*>(fuse_req_userdata(req)); }

absl::Status Attr(Filesystem* fs, fuse_ino_t ino, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = ino;
  st->st_uid = fs->owner().uid;
  st->st_gid = fs->owner().gid;
  if (ino == kRoot) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    st->st_mtim.tv_sec = fs->mount_time();
    st->st_ctim = st->st_atim = st->st_mtim;
    return absl::OkStatus();
  }
  if (ino <= kRoot || ino >= kInodeEnd) return absl::NotFoundError("no such inode");
  st->st_mode = S_IFREG | fs->owner().mode;
  st->st_nlink = 1;
  if (ino == kStats) {
    st->st_size = static_cast<off_t>(fs->Stats().size());
    st->st_mtim.tv_sec = time(nullptr);
    st->st_ctim = st->st_atim = st->st_mtim;
    return absl::OkStatus();
  }
  auto view = fs->View(KindOf(ino));
  if (!view.ok()) return view.status();
  st->st_size = static_cast<off_t>((*view)->size());
  st->st_blocks = 0;
  st->st_mtim.tv_sec = (*view)->snapshot().mtime;
  st->st_ctim = st->st_mtim;
  st->st_atim = st->st_mtim;
  return absl::OkStatus();
}

void ReplyError(fuse_req_t req, const absl::Status& status, absl::string_view what) {
  base::LogWarning(absl::StrCat(what, ": ", status.message()));
  fuse_reply_err(req, StatusToErrno(status));
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != kRoot) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  for (const Entry& e : kEntries) {
    if (std::strcmp(name, e.name) != 0) continue;
    struct fuse_entry_param ep;
    std::memset(&ep, 0, sizeof(ep));
    ep.ino = e.ino;
    // Live sizes change with hotplug; a short attribute timeout keeps them honest.
    double ttl = Fs(req)->backend().live() ? 1.0 : 3600.0;
    ep.attr_timeout = ep.entry_timeout = ttl;
    absl::Status s = Attr(Fs(req), e.ino, &ep.attr);
    if (!s.ok()) return ReplyError(req, s, absl::StrCat("lookup ", name));
    fuse_reply_entry(req, &ep);
    return;
  }
  fuse_reply_err(req, ENOENT);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  struct stat st;
  absl::Status s = Attr(Fs(req), ino, &st);
  if (!s.ok()) return ReplyError(req, s, "getattr");
  fuse_reply_attr(req, &st, Fs(req)->backend().live() ? 1.0 : 3600.0);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  if (ino != kRoot) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  struct Item {
    const char* name;
    fuse_ino_t ino;
    mode_t mode;
  };
  std::vector<Item> items = {{".", kRoot, S_IFDIR}, {"..", kRoot, S_IFDIR}};
  for (const Entry& e : kEntries) items.push_back({e.name, e.ino, S_IFREG});
  for (size_t i = static_cast<size_t>(off); i < items.size(); ++i) {
    struct stat st;
    std::memset(&st, 0, sizeof(st));
    st.st_ino = items[i].ino;
    st.st_mode = items[i].mode;
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, items[i].name, &st,
                                 static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void Open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (ino <= kRoot || ino >= kInodeEnd) {
    fuse_reply_err(req, ino == kRoot ? EISDIR : ENOENT);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
    return;
  }
  Filesystem* fs = Fs(req);
  auto handle = std::make_unique<Handle>();
  if (ino == kStats) {
    handle->text = fs->Stats();
    fi->direct_io = 1;
  } else {
    auto view = fs->View(KindOf(ino));
    if (!view.ok()) return ReplyError(req, view.status(), "open");
    handle->view = std::move(*view);
    // Live memory changes under the reader: no page cache, as /proc/kcore. A dump file
    // never changes: keep its pages cached across opens.
    fi->direct_io = fs->backend().live() ? 1 : 0;
    fi->keep_cache = fs->backend().live() ? 0 : 1;
  }
  fi->fh = reinterpret_cast<uint64_t>(handle.release());
  fuse_reply_open(req, fi);
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, struct fuse_file_info* fi) {
  auto* h = reinterpret_cast<Handle*>(fi->fh);
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  if (h->view == nullptr) {
    uint64_t o = static_cast<uint64_t>(off);
    size_t n = o >= h->text.size() ? 0 : std::min(size, h->text.size() - o);
    fuse_reply_buf(req, h->text.data() + (n ? o : 0), n);
    return;
  }
  // One buffer per loop thread: no allocation per read on the hot path.
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < size) buf.resize(size);
  auto n = h->view->ReadAt(static_cast<uint64_t>(off), absl::MakeSpan(buf.data(), size));
  if (!n.ok()) {
    return ReplyError(req, n.status(),
                      absl::StrCat("read ", elf::ViewName(h->view->kind()), " at offset ",
                                   base::Hex(static_cast<uint64_t>(off))));
  }
  Fs(req)->CountRead(*n);
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
}

void Release(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  delete reinterpret_cast<Handle*>(fi->fh);
  fuse_reply_err(req, 0);
}

void Init(void* userdata, struct fuse_conn_info* conn) {
  // Reads of up to 1 MiB per request: max_read here and as a mount option, max_pages
  // derived by libfuse from max_write (1 MiB by default).
  conn->max_readahead = 1 << 20;
  conn->max_read = 1 << 20;  // must match the max_read mount option (fuse_session_new checks)
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const elf::CoreView>> Filesystem::View(elf::ViewKind kind) {
  auto snap = backend_->Current();
  if (!snap.ok()) return snap.status();
  size_t i = static_cast<size_t>(kind);
  {
    absl::MutexLock lock(&mu_);
    if (views_[i] != nullptr && views_[i]->epoch() == (*snap)->epoch) return views_[i];
  }
  auto view = elf::CoreView::Build(kind, *snap);
  if (!view.ok()) return view.status();
  for (const std::string& w : (*view)->warnings()) base::LogWarning(w);
  absl::MutexLock lock(&mu_);
  views_[i] = *view;
  return views_[i];
}

std::string Filesystem::Stats() const {
  return absl::StrCat("backend ", backend_->name(), "\nsource ", backend_->source(),
                      "\nsource_bytes_read ", backend_->bytes_read(), "\nreads ",
                      reads_.load(), "\nbytes_served ", bytes_served_.load(), "\n");
}

const fuse_lowlevel_ops& Filesystem::Operations() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o;
    std::memset(&o, 0, sizeof(o));
    o.init = Init;
    o.lookup = Lookup;
    o.getattr = GetAttr;
    o.readdir = ReadDir;
    o.open = Open;
    o.read = Read;
    o.release = Release;
    return o;
  }();
  return ops;
}

}  // namespace kcorefs::fuse
