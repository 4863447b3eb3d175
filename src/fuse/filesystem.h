// The mounted directory: one file per view that applies to the source (from the view
// registry) plus `stats`, served with the low-level libfuse API. Views are built once per
// backend epoch and pinned by open file handles.
#ifndef KCOREFS_FUSE_FILESYSTEM_H_
#define KCOREFS_FUSE_FILESYSTEM_H_

#include <sys/types.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/base/log.h"
#include "kcorefs/elf/core_view.h"

struct fuse_lowlevel_ops;
struct fuse_session;

namespace kcorefs::fuse {

struct FileOwnership {
  uid_t uid;
  gid_t gid;
  mode_t mode;  // permission bits of the files
};

// How the read path replies (docs/performance.md has the figures behind the default).
struct ReadPathOptions {
  uint32_t max_read = 1 << 20;  // bytes per READ request (the max_read mount option too)
  uint32_t readahead = 4 << 20;  // max_readahead offered at INIT (mount.cc sets the bdi's)
  bool splice = false;        // splice fd-backed data into replies (src/fuse/read_path.h)
  bool direct_io = false;     // no page cache even for immutable bytes (one-pass readers)
  // Shorter replies are copied: below 64 KiB a pread and a writev cost as much as a
  // splice, a vmsplice and three pipe moves (docs/performance.md, "Splice").
  uint64_t splice_min = 64 << 10;
  // Every source read of a request is given this long (a remote that stops answering gives
  // EIO then; local files are not interrupted, the kernel cannot cancel a pread).
  absl::Duration read_timeout = absl::Seconds(30);
};

class Filesystem {
 public:
  Filesystem(std::unique_ptr<backends::Backend> backend, FileOwnership owner,
             ReadPathOptions read_path = {});

  // What an open file pins: the view of the epoch it was opened in, or the stats text.
  struct Handle {
    std::shared_ptr<const elf::CoreView> view;
    std::string text;
  };
  // Open files. The Filesystem owns their handles: a file still open when the session
  // ends (a lazy unmount, `umount -l`, ends it when the last reference goes, and no
  // RELEASE comes for it) is freed with the Filesystem, before the backend it reads.
  Handle* AddHandle(std::unique_ptr<Handle> handle);
  void RemoveHandle(Handle* handle);
  size_t open_handles() const;

  // The view for the backend's current epoch, built on first use. One build per view and
  // epoch even when many threads ask at once; a view of an older epoch never replaces a
  // newer one.
  absl::StatusOr<std::shared_ptr<const elf::CoreView>> View(const elf::ViewType& type);
  // Text of the `stats` file.
  std::string Stats() const;

  backends::Backend& backend() { return *backend_; }
  const backends::Capabilities& caps() const { return caps_; }
  const FileOwnership& owner() const { return owner_; }
  const ReadPathOptions& read_path() const { return read_path_; }
  // Called from INIT, before any read, when the kernel cannot splice into /dev/fuse.
  void DisableSplice() { read_path_.splice = false; }
  time_t mount_time() const { return mount_time_; }
  // Set once the session exists: page-cache invalidation on an epoch change needs it.
  void set_session(fuse_session* se) { session_.store(se); }
  void CountRead(uint64_t bytes) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    bytes_served_.fetch_add(bytes, std::memory_order_relaxed);
  }
  // Bytes of replies libfuse spliced from a pipe (the rest were copied from memory).
  void CountSpliced(uint64_t bytes) { bytes_spliced_.fetch_add(bytes, std::memory_order_relaxed); }
  // Logs a failed read (rate-limited) and counts it; the reader gets EIO.
  void ReadFailed(const absl::Status& status);
  // Held around every source read when the backend's thread model is serialized.
  absl::Mutex* serial_mu() { return caps_.threads == backends::ThreadModel::kSerialized ? &serial_ : nullptr; }
  static const fuse_lowlevel_ops& Operations();

 private:
  struct Slot {
    absl::Mutex build_mu;  // held while building: concurrent opens wait for one build
    std::shared_ptr<const elf::CoreView> view;  // guarded by Filesystem::mu_
  };
  void EpochChanged(uint64_t epoch);

  // Declared first, destroyed last: every view, handle and source read from it goes first.
  std::unique_ptr<backends::Backend> backend_;
  const backends::Capabilities caps_;
  FileOwnership owner_;
  ReadPathOptions read_path_;
  time_t mount_time_;
  std::atomic<fuse_session*> session_{nullptr};
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_;  // one per elf::ViewTypes() entry
  uint64_t latest_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex serial_;
  base::LogRateLimiter read_errors_log_{10, absl::Seconds(10)};
  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> bytes_served_{0};
  std::atomic<uint64_t> bytes_spliced_{0};
  std::atomic<uint64_t> read_errors_{0};
  mutable absl::Mutex handles_mu_;
  absl::flat_hash_map<Handle*, std::unique_ptr<Handle>> handles_ ABSL_GUARDED_BY(handles_mu_);
};

}  // namespace kcorefs::fuse

#endif  // KCOREFS_FUSE_FILESYSTEM_H_
