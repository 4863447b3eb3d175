#include "kcorefs/io/mountinfo.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "kcorefs/io/small_file.h"

namespace kcorefs::io {
namespace {

// mountinfo's octal escapes ("\040" for a space) undone.
std::string Unescape(absl::string_view f) {
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\\' && i + 3 < f.size() && f[i + 1] >= '0' && f[i + 1] <= '3' &&
        f[i + 2] >= '0' && f[i + 2] <= '7' && f[i + 3] >= '0' && f[i + 3] <= '7') {
      out.push_back(static_cast<char>((f[i + 1] - '0') * 64 + (f[i + 2] - '0') * 8 +
                                      (f[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(f[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<MountEntry> TopMountAt(const std::string& path) {
  char* real = ::realpath(path.c_str(), nullptr);
  if (real == nullptr) return std::nullopt;
  std::string want(real);
  std::free(real);
  auto info = ReadSmallFile("/proc/self/mountinfo", 64 << 20);
  if (!info.ok()) return std::nullopt;
  std::optional<MountEntry> top;
  for (absl::string_view line : absl::StrSplit(*info, '\n', absl::SkipEmpty())) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"; the
    // mount point escapes space, tab, newline and backslash as octal.
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 5 || Unescape(f[4]) != want) continue;
    MountEntry e{std::string(f[2]), want, ""};
    auto dash = std::find(f.begin() + 5, f.end(), "-");
    if (dash != f.end() && dash + 1 != f.end()) e.fs_type = std::string(*(dash + 1));
    top = std::move(e);  // later lines are mounted on top of earlier ones
  }
  return top;
}

}  // namespace kcorefs::io
