#include "kcorefs/io/small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/unique_fd.h"

namespace kcorefs::io {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t limit) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::ErrnoError(errno, absl::StrCat("open ", path));
  std::string out;
  // Sized once from st_size (a 2.5 MB region manifest otherwise grows by copies); the
  // loop still reads to the end, for files whose size says nothing (/proc, /sys).
  struct stat st;
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) {
    out.reserve(std::min<size_t>(static_cast<size_t>(st.st_size), limit) + 1);
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is larger than ", limit, " bytes"));
    }
  }
  return out;
}

}  // namespace kcorefs::io
