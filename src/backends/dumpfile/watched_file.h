// The dump file, watched for changes. A dump that changes under a mount would be served
// as a mix: the headers and the page cache hold what was there at mount, new reads get the
// new bytes. So the file's size and mtime are compared with those seen at open (at most
// once per kCheckInterval on reads, on every Check(kNow)); once they differ every read
// fails, and one error line says what changed and to remount.
#ifndef KCOREFS_BACKENDS_DUMPFILE_WATCHED_FILE_H_
#define KCOREFS_BACKENDS_DUMPFILE_WATCHED_FILE_H_

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::backends {

class WatchedFile final : public io::ByteSource {
 public:
  // An fstat costs well under a microsecond, a FUSE read tens of microseconds and more;
  // checking once a second keeps it out of every profile and bounds the window in which
  // new bytes can be served to one second.
  static constexpr absl::Duration kCheckInterval = absl::Seconds(1);
  enum class When { kDue, kNow };

  // Opens `path` and records its size and mtime (the identity every check compares with).
  // A FIFO or socket is refused before it is opened (an open would block).
  static absl::StatusOr<std::shared_ptr<WatchedFile>> Open(const std::string& path);

  // OK while the file is as it was at open. Once it changed: FailedPrecondition (kind
  // permanent) "PATH changed while mounted (...); remount to see the new contents", for
  // good. kDue checks only when kCheckInterval has passed since the last check.
  absl::Status Check(When when = When::kDue) const;
  bool changed() const { return changed_.load(std::memory_order_acquire); }

  uint64_t size() const override { return file_->size(); }
  const std::string& name() const override { return file_->name(); }
  // Withdrawn once the file changed: a reader that would splice from it (the FUSE edge)
  // then reads through ReadAt, which fails. Callers take fd() once per use and keep it.
  std::optional<int> fd() const override;
  absl::StatusOr<std::vector<io::SourceExtent>> Extents(uint64_t offset,
                                                        uint64_t length) const override;
  uint64_t preferred_read_size() const override { return file_->preferred_read_size(); }

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out,
                      absl::Time deadline) const override;
  absl::Status DoReadMany(absl::Span<const io::ReadRequest> requests,
                          absl::Time deadline) const override;

 private:
  WatchedFile(std::shared_ptr<io::FileByteSource> file, const struct stat& st);
  absl::Status ChangedError() const;

  std::shared_ptr<io::FileByteSource> file_;
  const bool regular_;  // a block device's node says nothing of its contents: not checked
  const off_t size_at_open_;
  const struct timespec mtime_at_open_;
  mutable std::atomic<int64_t> next_check_ns_{0};  // CLOCK_MONOTONIC_COARSE
  mutable std::atomic<bool> changed_{false};
  mutable absl::Mutex mu_;
  mutable std::string what_changed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_DUMPFILE_WATCHED_FILE_H_
