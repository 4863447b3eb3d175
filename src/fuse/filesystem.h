// The mounted directory: vmcore, kcore, vmcoreinfo and stats, served with the low-level
// libfuse API. Views are built once per backend epoch and pinned by open file handles.
#ifndef KCOREFS_FUSE_FILESYSTEM_H_
#define KCOREFS_FUSE_FILESYSTEM_H_

#include <sys/types.h>

#include <ctime>

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/elf/core_view.h"

struct fuse_lowlevel_ops;

namespace kcorefs::fuse {

struct FileOwnership {
  uid_t uid;
  gid_t gid;
  mode_t mode;  // permission bits of the files
};

class Filesystem {
 public:
  Filesystem(std::unique_ptr<backends::Backend> backend, FileOwnership owner)
      : backend_(std::move(backend)), owner_(owner), mount_time_(time(nullptr)) {}

  // The view for the backend's current epoch, built on first use.
  absl::StatusOr<std::shared_ptr<const elf::CoreView>> View(elf::ViewKind kind);
  // Text of the `stats` file.
  std::string Stats() const;

  backends::Backend& backend() { return *backend_; }
  const FileOwnership& owner() const { return owner_; }
  time_t mount_time() const { return mount_time_; }
  void CountRead(uint64_t bytes) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    bytes_served_.fetch_add(bytes, std::memory_order_relaxed);
  }
  static const fuse_lowlevel_ops& Operations();

 private:
  std::unique_ptr<backends::Backend> backend_;
  FileOwnership owner_;
  time_t mount_time_;
  absl::Mutex mu_;
  std::array<std::shared_ptr<const elf::CoreView>, 3> views_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> bytes_served_{0};
};

}  // namespace kcorefs::fuse

#endif  // KCOREFS_FUSE_FILESYSTEM_H_
