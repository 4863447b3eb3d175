#include "kcorefs/io/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"

namespace kcorefs::io {

using base::Hex;

absl::StatusOr<std::shared_ptr<FileByteSource>> FileByteSource::Open(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::ErrnoError(errno, absl::StrCat("open ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is a directory, not a file"));
  }
  return std::shared_ptr<FileByteSource>(
      new FileByteSource(path, std::move(fd), static_cast<uint64_t>(st.st_size)));
}

absl::StatusOr<uint64_t> FileByteSource::Stat() const {
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path_));
  return static_cast<uint64_t>(st.st_size);
}

absl::Status FileByteSource::ReadAt(uint64_t offset, absl::Span<uint8_t> out) const {
  if (!base::CheckedAdd(offset, out.size()) || offset > static_cast<uint64_t>(INT64_MAX)) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": offset ", Hex(offset), " is too large"));
  }
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done, offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError(errno, absl::StrCat("read ", path_, " at offset ", Hex(offset + done)));
    }
    if (n == 0) {
      return absl::OutOfRangeError(absl::StrCat(path_, ": unexpected end of file at offset ",
                                                Hex(offset + done), " (the file is truncated)"));
    }
    done += static_cast<size_t>(n);
  }
  CountRead(done);
  return absl::OkStatus();
}

absl::Status BufferByteSource::ReadAt(uint64_t offset, absl::Span<uint8_t> out) const {
  if (!base::RangeWithin(offset, out.size(), bytes_.size())) {
    return absl::OutOfRangeError(
        absl::StrCat(name_, ": read of ", out.size(), " bytes at ", Hex(offset), " is past its end"));
  }
  std::memcpy(out.data(), bytes_.data() + offset, out.size());
  CountRead(out.size());
  return absl::OkStatus();
}

}  // namespace kcorefs::io
