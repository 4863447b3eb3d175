#include "kcorefs/io/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::io {

using base::Hex;

absl::Status ByteSource::DoReadMany(absl::Span<const ReadRequest> requests,
                                    absl::Time deadline) const {
  for (const ReadRequest& r : requests) KCOREFS_RETURN_IF_ERROR(DoRead(r.offset, r.out, deadline));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<FileByteSource>> FileByteSource::Open(const std::string& path,
                                                                    FileSharing sharing) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::ErrnoError(errno, absl::StrCat("open ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is a directory, not a file"));
  }
  return std::shared_ptr<FileByteSource>(new FileByteSource(
      path, std::move(fd), static_cast<uint64_t>(st.st_size), S_ISREG(st.st_mode), sharing));
}

absl::StatusOr<uint64_t> FileByteSource::Stat() const {
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path_));
  return static_cast<uint64_t>(st.st_size);
}

absl::Status FileByteSource::DoRead(uint64_t offset, absl::Span<uint8_t> out,
                                    absl::Time deadline) const {
  if (!base::CheckedAdd(offset, out.size()) || offset > static_cast<uint64_t>(INT64_MAX)) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": offset ", Hex(offset), " is too large"));
  }
  if (deadline != NoDeadline() && absl::Now() > deadline) {
    return base::DeadlineError(absl::StrCat("read ", path_, " at offset ", Hex(offset),
                                            ": the deadline passed before the read started"));
  }
  if (sharing_ == FileSharing::kShared) return PreadAll(fd_.get(), offset, out);
  KCOREFS_ASSIGN_OR_RETURN(base::UniqueFd fd, BorrowFd());
  absl::Status status = PreadAll(fd.get(), offset, out);
  ReturnFd(std::move(fd));
  return status;
}

absl::Status FileByteSource::PreadAll(int fd, uint64_t offset, absl::Span<uint8_t> out) const {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError(errno, absl::StrCat("read ", path_, " at offset ", Hex(offset + done)));
    }
    if (n == 0) {
      return base::WithKind(
          absl::OutOfRangeError(absl::StrCat(path_, ": unexpected end of file at offset ",
                                             Hex(offset + done), " (the file is truncated)")),
          base::ErrorKind::kPermanent);
    }
    done += static_cast<size_t>(n);
  }
  CountRead(done);
  return absl::OkStatus();
}

absl::StatusOr<base::UniqueFd> FileByteSource::BorrowFd() const {
  {
    absl::MutexLock lock(&pool_mu_);
    if (!pool_.empty()) {
      base::UniqueFd fd = std::move(pool_.back());
      pool_.pop_back();
      return fd;
    }
  }
  // The same file as the first open (not whatever the path names now), in a new open
  // file description. The pool grows to the most reads ever in flight at once.
  const std::string self = absl::StrCat("/proc/self/fd/", fd_.get());
  base::UniqueFd fd(::open(self.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::ErrnoError(errno, absl::StrCat("open ", path_, " again"));
  return fd;
}

void FileByteSource::ReturnFd(base::UniqueFd fd) const {
  absl::MutexLock lock(&pool_mu_);
  pool_.push_back(std::move(fd));
}

absl::StatusOr<std::vector<SourceExtent>> FileByteSource::Extents(uint64_t offset,
                                                                  uint64_t length) const {
  std::vector<SourceExtent> out;
  auto end = base::CheckedAdd(offset, length);
  if (!end) return absl::OutOfRangeError(absl::StrCat(path_, ": extent range wraps"));
  // Devices (/dev/mem, /proc/kcore is regular but has no holes to report) are all data.
  if (!regular_) return std::vector<SourceExtent>{{offset, length, ExtentKind::kData}};
  uint64_t pos = offset;
  while (pos < *end) {
    off_t data = ::lseek(fd_.get(), static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      // ENXIO: no data at or after pos (the rest is a hole, or past EOF). EINVAL: the
      // file system has no SEEK_DATA; treat everything as data.
      if (errno == ENXIO) {
        out.push_back({pos, *end - pos, ExtentKind::kZero});
        break;
      }
      out.push_back({pos, *end - pos, ExtentKind::kData});
      break;
    }
    uint64_t d = std::min<uint64_t>(static_cast<uint64_t>(data), *end);
    if (d > pos) out.push_back({pos, d - pos, ExtentKind::kZero});
    if (d >= *end) break;
    off_t hole = ::lseek(fd_.get(), static_cast<off_t>(d), SEEK_HOLE);
    uint64_t h = hole < 0 ? *end : std::min<uint64_t>(static_cast<uint64_t>(hole), *end);
    out.push_back({d, h - d, ExtentKind::kData});
    pos = h;
  }
  return out;
}

absl::Status BufferByteSource::DoRead(uint64_t offset, absl::Span<uint8_t> out,
                                      absl::Time) const {
  if (!base::RangeWithin(offset, out.size(), bytes_.size())) {
    return base::WithKind(absl::OutOfRangeError(absl::StrCat(name_, ": read of ", out.size(),
                                                             " bytes at ", Hex(offset),
                                                             " is past its end")),
                          base::ErrorKind::kPermanent);
  }
  std::memcpy(out.data(), bytes_.data() + offset, out.size());
  CountRead(out.size());
  return absl::OkStatus();
}

}  // namespace kcorefs::io
