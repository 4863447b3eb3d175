#include "backends/dumpfile/watched_file.h"

#include <sys/stat.h>
#include <time.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::backends {
namespace {

int64_t MonotonicNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string FormatMtime(const struct timespec& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E9S", absl::TimeFromTimespec(t), absl::LocalTimeZone());
}

bool SameTime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

absl::StatusOr<std::shared_ptr<WatchedFile>> WatchedFile::Open(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is a ", S_ISFIFO(st.st_mode) ? "FIFO" : "socket",
        ": a dump is read at random offsets; copy it to a file first"));
  }
  KCOREFS_ASSIGN_OR_RETURN(auto file, io::FileByteSource::Open(path));
  // The identity of the file opened (fstat of its fd: a rename onto the path later does
  // not matter, the fd keeps the old file, which is what the mount serves).
  if (::fstat(*file->fd(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  return std::shared_ptr<WatchedFile>(new WatchedFile(std::move(file), st));
}

WatchedFile::WatchedFile(std::shared_ptr<io::FileByteSource> file, const struct stat& st)
    : file_(std::move(file)), regular_(S_ISREG(st.st_mode)), size_at_open_(st.st_size),
      mtime_at_open_(st.st_mtim) {
  next_check_ns_.store(MonotonicNs() + absl::ToInt64Nanoseconds(kCheckInterval));
}

absl::Status WatchedFile::ChangedError() const {
  absl::MutexLock lock(&mu_);
  return base::WithKind(absl::FailedPreconditionError(what_changed_), base::ErrorKind::kPermanent);
}

absl::Status WatchedFile::Check(When when) const {
  if (changed()) return ChangedError();
  if (!regular_) return absl::OkStatus();
  const int64_t now = MonotonicNs();
  if (when == When::kDue && now < next_check_ns_.load(std::memory_order_relaxed)) {
    return absl::OkStatus();
  }
  next_check_ns_.store(now + absl::ToInt64Nanoseconds(kCheckInterval), std::memory_order_relaxed);
  struct stat st;
  if (::fstat(*file_->fd(), &st) != 0) {
    return base::ErrnoError(errno, absl::StrCat("stat ", name()));
  }
  if (st.st_size == size_at_open_ && SameTime(st.st_mtim, mtime_at_open_)) return absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    if (!changed_.load(std::memory_order_relaxed)) {
      std::string what;
      if (st.st_size != size_at_open_) {
        absl::StrAppend(&what, "size ", size_at_open_, " -> ", st.st_size, " bytes");
      }
      if (!SameTime(st.st_mtim, mtime_at_open_)) {
        absl::StrAppend(&what, what.empty() ? "" : ", ", "mtime ", FormatMtime(mtime_at_open_),
                        " -> ", FormatMtime(st.st_mtim));
      }
      what_changed_ = absl::StrCat(name(), " changed while mounted (", what,
                                   "); its reads now fail: remount to see the new contents");
      // Once, whoever saw it first; every failed read logs its own line too (rate-limited).
      base::LogError(what_changed_);
      changed_.store(true, std::memory_order_release);
    }
  }
  return ChangedError();
}

std::optional<int> WatchedFile::fd() const {
  if (!Check().ok()) return std::nullopt;
  return file_->fd();
}

absl::StatusOr<std::vector<io::SourceExtent>> WatchedFile::Extents(uint64_t offset,
                                                                   uint64_t length) const {
  KCOREFS_RETURN_IF_ERROR(Check());
  return file_->Extents(offset, length);
}

absl::Status WatchedFile::DoRead(uint64_t offset, absl::Span<uint8_t> out,
                                 absl::Time deadline) const {
  KCOREFS_RETURN_IF_ERROR(Check());
  KCOREFS_RETURN_IF_ERROR(file_->ReadAt(offset, out, deadline));
  CountRead(out.size());
  return absl::OkStatus();
}

absl::Status WatchedFile::DoReadMany(absl::Span<const io::ReadRequest> requests,
                                     absl::Time deadline) const {
  KCOREFS_RETURN_IF_ERROR(Check());
  KCOREFS_RETURN_IF_ERROR(file_->ReadMany(requests, deadline));
  CountRead(requests);
  return absl::OkStatus();
}

}  // namespace kcorefs::backends
