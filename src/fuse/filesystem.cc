#include "fuse/filesystem.h"

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuse/errno_map.h"
#include "fuse/read_path.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"

namespace kcorefs::fuse {
namespace {

// Inodes: the root, then one per view of the registry (in its order), then stats. The
// numbers never change during a mount; views that do not apply are simply not listed.
fuse_ino_t ViewIno(size_t index) { return FUSE_ROOT_ID + 1 + index; }
fuse_ino_t StatsIno() { return ViewIno(elf::ViewTypes().size()); }
const elf::ViewType* ViewOf(fuse_ino_t ino) {
  if (ino <= FUSE_ROOT_ID || ino >= StatsIno()) return nullptr;
  return elf::ViewTypes()[ino - FUSE_ROOT_ID - 1];
}

Filesystem* Fs(fuse_req_t req) { return static_cast<Filesystem*>(fuse_req_userdata(req)); }

// Volatile bytes or maps: sizes and mtimes may change, so attributes are kept briefly.
double AttrTtl(const Filesystem* fs) {
  return fs->caps().bytes_volatile || fs->caps().map_volatile ? 1.0 : 3600.0;
}

absl::Status Attr(Filesystem* fs, fuse_ino_t ino, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = ino;
  st->st_uid = fs->owner().uid;
  st->st_gid = fs->owner().gid;
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    st->st_mtim.tv_sec = fs->mount_time();
    st->st_ctim = st->st_atim = st->st_mtim;
    return absl::OkStatus();
  }
  st->st_mode = S_IFREG | fs->owner().mode;
  st->st_nlink = 1;
  if (ino == StatsIno()) {
    st->st_size = static_cast<off_t>(fs->Stats().size());
    st->st_mtim.tv_sec = time(nullptr);
    st->st_ctim = st->st_atim = st->st_mtim;
    return absl::OkStatus();
  }
  const elf::ViewType* type = ViewOf(ino);
  if (type == nullptr) return absl::NotFoundError("no such inode");
  auto view = fs->View(*type);
  if (!view.ok()) return view.status();
  st->st_size = static_cast<off_t>((*view)->size());
  st->st_mtim.tv_sec = (*view)->snapshot().mtime;
  st->st_ctim = st->st_atim = st->st_mtim;
  return absl::OkStatus();
}

void ReplyError(fuse_req_t req, const absl::Status& status, absl::string_view what) {
  base::LogWarning(absl::StrCat(what, ": ", status.message()));
  fuse_reply_err(req, SourceErrno(status));
}

// The entries the root lists now: the views that apply to the current snapshot, then
// stats. A source that cannot give a snapshot still lists every view (opening one then
// reports the failure as EIO).
std::vector<std::pair<std::string, fuse_ino_t>> Entries(Filesystem* fs) {
  std::vector<std::pair<std::string, fuse_ino_t>> out;
  auto snap = fs->backend().Current();
  const auto& types = elf::ViewTypes();
  for (size_t i = 0; i < types.size(); ++i) {
    if (snap.ok() && !types[i]->applies(**snap)) continue;
    out.emplace_back(std::string(types[i]->name), ViewIno(i));
  }
  out.emplace_back("stats", StatsIno());
  return out;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  for (const auto& [entry, ino] : Entries(Fs(req))) {
    if (entry != name) continue;
    struct fuse_entry_param ep;
    std::memset(&ep, 0, sizeof(ep));
    ep.ino = ino;
    ep.attr_timeout = ep.entry_timeout = AttrTtl(Fs(req));
    absl::Status s = Attr(Fs(req), ino, &ep.attr);
    if (!s.ok()) return ReplyError(req, s, absl::StrCat("lookup ", name));
    fuse_reply_entry(req, &ep);
    return;
  }
  fuse_reply_err(req, ENOENT);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  struct stat st;
  absl::Status s = Attr(Fs(req), ino, &st);
  if (!s.ok()) {
    if (absl::IsNotFound(s) && ViewOf(ino) == nullptr) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    return ReplyError(req, s, "getattr");
  }
  fuse_reply_attr(req, &st, AttrTtl(Fs(req)));
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  std::vector<std::pair<std::string, fuse_ino_t>> items = {{".", FUSE_ROOT_ID},
                                                           {"..", FUSE_ROOT_ID}};
  for (auto& e : Entries(Fs(req))) items.push_back(std::move(e));
  for (size_t i = static_cast<size_t>(off); i < items.size(); ++i) {
    struct stat st;
    std::memset(&st, 0, sizeof(st));
    st.st_ino = items[i].second;
    st.st_mode = items[i].second == FUSE_ROOT_ID ? S_IFDIR : S_IFREG;
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, items[i].first.c_str(), &st,
                                 static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void Open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (ino == FUSE_ROOT_ID) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  const elf::ViewType* type = ViewOf(ino);
  if (type == nullptr && ino != StatsIno()) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
    return;
  }
  Filesystem* fs = Fs(req);
  auto handle = std::make_unique<Filesystem::Handle>();
  if (type == nullptr) {
    handle->text = fs->Stats();
    fi->direct_io = 1;
  } else {
    auto view = fs->View(*type);
    if (!view.ok()) return ReplyError(req, view.status(), absl::StrCat("open ", type->name));
    handle->view = std::move(*view);
    // Volatile bytes: no page cache, as /proc/kcore. Immutable bytes keep their pages
    // across opens; a map change invalidates them (Filesystem::EpochChanged).
    const bool uncached = fs->caps().bytes_volatile || fs->read_path().direct_io;
    fi->direct_io = uncached ? 1 : 0;
    fi->keep_cache = uncached ? 0 : 1;
  }
  Filesystem::Handle* h = fs->AddHandle(std::move(handle));
  fi->fh = reinterpret_cast<uint64_t>(h);
  // A reply that fails (the opener was interrupted) gets no RELEASE: the handle goes now.
  if (fuse_reply_open(req, fi) != 0) fs->RemoveHandle(h);
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, struct fuse_file_info* fi) {
  auto* h = reinterpret_cast<Filesystem::Handle*>(fi->fh);
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
  ReplyRead(req, *Fs(req), *h->view, static_cast<uint64_t>(off), size);
}

void Release(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  Fs(req)->RemoveHandle(reinterpret_cast<Filesystem::Handle*>(fi->fh));
  fuse_reply_err(req, 0);
}

void Init(void* userdata, struct fuse_conn_info* conn) {
  auto* fs = static_cast<Filesystem*>(userdata);
  // Reads of up to max_read (1 MiB, less when splicing needs it) per request: here and as a
  // mount option; max_pages is derived by libfuse from max_write (1 MiB by default).
  // The kernel keeps the smaller of this and the bdi's read_ahead_kb (mount.cc raises it).
  conn->max_readahead = fs->read_path().readahead;
  conn->max_read = fs->read_path().max_read;  // must match the mount option (libfuse checks)
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (!fs->read_path().splice) return;
  // libfuse splices a reply only when told it may (FUSE_CAP_SPLICE_WRITE is off by default).
  if (!(conn->capable & FUSE_CAP_SPLICE_WRITE)) {
    base::LogWarning("the kernel cannot splice replies; reads are copied");
    fs->DisableSplice();
    return;
  }
  conn->want |= FUSE_CAP_SPLICE_WRITE;
}

}  // namespace

Filesystem::Filesystem(std::unique_ptr<backends::Backend> backend, FileOwnership owner,
                       ReadPathOptions read_path)
    : backend_(std::move(backend)), caps_(backend_->capabilities()), owner_(owner),
      read_path_(read_path), mount_time_(time(nullptr)) {
  for (size_t i = 0; i < elf::ViewTypes().size(); ++i) slots_.push_back(std::make_unique<Slot>());
}

absl::StatusOr<std::shared_ptr<const elf::CoreView>> Filesystem::View(const elf::ViewType& type) {
  auto snap = backend_->Current();
  if (!snap.ok()) return snap.status();
  const uint64_t epoch = (*snap)->epoch;
  size_t index = 0;
  while (elf::ViewTypes()[index] != &type) ++index;
  Slot& slot = *slots_[index];
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    if (epoch > latest_epoch_) {
      changed = latest_epoch_ != 0;
      latest_epoch_ = epoch;
    }
  }
  if (changed) EpochChanged(epoch);
  absl::MutexLock build(&slot.build_mu);
  {
    absl::MutexLock lock(&mu_);
    if (slot.view != nullptr && slot.view->epoch() >= epoch) return slot.view;
  }
  auto view = elf::CoreView::Build(type.name, *snap);
  if (!view.ok()) return view.status();
  for (const std::string& w : (*view)->warnings()) base::LogWarning(w);
  absl::MutexLock lock(&mu_);
  if (slot.view == nullptr || slot.view->epoch() < epoch) slot.view = *view;
  return slot.view;
}

Filesystem::Handle* Filesystem::AddHandle(std::unique_ptr<Handle> handle) {
  Handle* h = handle.get();
  absl::MutexLock lock(&handles_mu_);
  handles_.emplace(h, std::move(handle));
  return h;
}

void Filesystem::RemoveHandle(Handle* h) {
  std::unique_ptr<Handle> gone;  // destroyed outside the lock: it may free a whole view
  absl::MutexLock lock(&handles_mu_);
  auto it = handles_.find(h);
  if (it == handles_.end()) return;
  gone = std::move(it->second);
  handles_.erase(it);
}

size_t Filesystem::open_handles() const {
  absl::MutexLock lock(&handles_mu_);
  return handles_.size();
}

void Filesystem::EpochChanged(uint64_t epoch) {
  base::LogInfo(absl::StrCat(backend_->source(), ": the memory map changed (epoch ", epoch,
                             "); new opens see the new layout"));
  fuse_session* se = session_.load();
  if (se == nullptr || caps_.bytes_volatile) return;  // direct_io: nothing cached
  // Cached pages of an immutable-bytes source belong to the old layout. The kernel is told
  // from another thread: invalidating from inside a request can deadlock on the inode.
  std::thread([se] {
    for (size_t i = 0; i < elf::ViewTypes().size(); ++i) {
      fuse_lowlevel_notify_inval_inode(se, ViewIno(i), 0, 0);
    }
  }).detach();
}

void Filesystem::ReadFailed(const absl::Status& status) {
  read_errors_.fetch_add(1, std::memory_order_relaxed);
  uint64_t suppressed = 0;
  if (!read_errors_log_.Allow(&suppressed)) return;
  base::LogError(absl::StrCat(
      "read failed (", base::KindName(base::KindOf(status)), ", the reader gets EIO): ",
      status.message(),
      suppressed ? absl::StrCat(" [", suppressed, " more read errors not logged]") : ""));
}

std::string Filesystem::Stats() const {
  std::string out = absl::StrCat("backend ", backend_->name(), "\nsource ", backend_->source(),
                                 "\nsource_bytes_read ", backend_->bytes_read(), "\nreads ",
                                 reads_.load(), "\nbytes_served ", bytes_served_.load(),
                                 "\nbytes_spliced ", bytes_spliced_.load(),
                                 "\nread_errors ", read_errors_.load(), "\n");
  for (const auto& [k, v] : backend_->Stats()) absl::StrAppend(&out, k, " ", v, "\n");
  return out;
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
