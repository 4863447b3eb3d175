#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/base/unique_fd.h"
#include "kcorefs/elf/core_view.h"

namespace kcorefs::cli {
namespace {

constexpr char kExportUsage[] =
    "usage: kcorefs export [options] SOURCE --view VIEW -o FILE|-\n"
    "\n"
    "Writes one view (vmcore, kcore, vmcoreinfo, ...) of SOURCE to FILE, or to stdout with -.\n"
    "Gaps stay holes in FILE (a kcore-layout file is sparse). A progress bar is shown\n"
    "when stderr is a terminal.\n"
    "\n"
    "      --view VIEW         vmcore (default), kcore, vmcoreinfo, or another view\n"
    "                          the source has (the names its mount would list)\n"
    "  -o, --output FILE       where to write (required); never the source itself\n"
    "      --force             overwrite FILE if it exists\n"
    "      --vmcoreinfo FILE   use FILE's VMCOREINFO text instead of the source's\n"
    "  -O KEY=VALUE[,...]      backend options (`kcorefs backends` lists them)\n"
    "  -h, --help              this text\n";

constexpr size_t kChunk = 1 << 20;

absl::Status WriteAll(int fd, const uint8_t* p, size_t n, uint64_t offset, bool seekable) {
  while (n > 0) {
    ssize_t w = seekable ? ::pwrite(fd, p, n, static_cast<off_t>(offset)) : ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError(errno, absl::StrCat("write at offset ", base::Hex(offset)));
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return absl::OkStatus();
}

class Progress {
 public:
  Progress(uint64_t total) : total_(total), tty_(isatty(STDERR_FILENO)) {}
  void Update(uint64_t done) {
    if (!tty_ || total_ == 0) return;
    int pct = static_cast<int>(done * 100 / total_);
    if (pct == last_) return;
    last_ = pct;
    int bars = pct / 4;
    std::fprintf(stderr, "\r[%-25.*s] %3d%% %llu MiB", bars, "#########################", pct,
                 static_cast<unsigned long long>(done >> 20));
  }
  ~Progress() {
    if (tty_ && last_ >= 0) std::fputc('\n', stderr);
  }

 private:
  uint64_t total_;
  bool tty_;
  int last_ = -1;
};

// Copies the view's extents; the bytes between them are never written, so a regular
// output file keeps them as holes. A pipe gets the zeros written out.
absl::Status Export(const elf::CoreView& view, int fd, bool seekable) {
  std::vector<uint8_t> buf(kChunk);
  uint64_t data_total = 0;
  for (const elf::Extent& e : view.extents()) data_total += e.length;
  Progress progress(data_total);
  uint64_t done = 0;
  uint64_t pos = 0;  // next byte a pipe expects
  for (const elf::Extent& e : view.extents()) {
    if (!seekable) {
      std::memset(buf.data(), 0, kChunk);
      while (pos < e.offset) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, e.offset - pos));
        if (auto s = WriteAll(fd, buf.data(), n, pos, false); !s.ok()) return s;
        pos += n;
      }
    }
    for (uint64_t off = 0; off < e.length; off += kChunk) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, e.length - off));
      auto got = view.ReadAt(e.offset + off, absl::MakeSpan(buf.data(), n));
      if (!got.ok()) return got.status();
      if (auto s = WriteAll(fd, buf.data(), n, e.offset + off, seekable); !s.ok()) return s;
      done += n;
      progress.Update(done);
    }
    pos = e.end();
  }
  if (seekable) {
    if (::ftruncate(fd, static_cast<off_t>(view.size())) != 0) {
      return base::ErrnoError(errno, "set the output file's size");
    }
  } else {
    std::memset(buf.data(), 0, kChunk);
    while (pos < view.size()) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, view.size() - pos));
      if (auto s = WriteAll(fd, buf.data(), n, pos, false); !s.ok()) return s;
      pos += n;
    }
  }
  return absl::OkStatus();
}

// How long `-o FIFO` waits for a reader: an open for writing would otherwise wait forever
// when none comes (`kcorefs export SRC -o FIFO &` then the reader is the usual order, so a
// reader started a little later is waited for).
constexpr absl::Duration kFifoReaderWait = absl::Seconds(10);

// A FIFO is opened without blocking: ENXIO means no reader has it open yet, so it is
// tried again until kFifoReaderWait passes. The writes then block as on any pipe.
absl::StatusOr<base::UniqueFd> OpenFifo(const std::string& path) {
  const absl::Time give_up = absl::Now() + kFifoReaderWait;
  bool told = false;
  while (true) {
    base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NONBLOCK));
    if (fd.valid()) {
      int fl = ::fcntl(fd.get(), F_GETFL);
      if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) {
        return base::ErrnoError(errno, absl::StrCat("make ", path, " blocking"));
      }
      return fd;
    }
    if (errno != ENXIO) return base::ErrnoError(errno, absl::StrCat("open ", path));
    if (absl::Now() >= give_up) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " is a FIFO that no reader opened within ", absl::FormatDuration(kFifoReaderWait),
          "; start its reader first (for example `cat ", path, " > FILE &`) and the export "
          "after it. (makedumpfile and crash seek their input: give them a file, not a FIFO)"));
    }
    if (!told) {
      base::LogInfo(absl::StrCat(path, " is a FIFO: waiting up to ",
                                 absl::FormatDuration(kFifoReaderWait), " for a reader"));
      told = true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

// The export's output. Never the source itself (compared by device and inode, so a
// symlink or a second name does not get past it), never an existing file without --force,
// and on failure only a file this export wrote is removed — by the name it really has.
class OutputFile {
 public:
  static absl::StatusOr<OutputFile> Stdout() {
    OutputFile f;
    f.fd_.Reset(::dup(STDOUT_FILENO));
    if (!f.fd_.valid()) return base::ErrnoError(errno, "dup stdout");
    return f;
  }

  static absl::StatusOr<OutputFile> Create(const std::string& path, bool force,
                                           const std::string& source) {
    struct stat out_st, src_st;
    bool exists = ::stat(path.c_str(), &out_st) == 0;
    if (exists && ::stat(source.c_str(), &src_st) == 0 && out_st.st_dev == src_st.st_dev &&
        out_st.st_ino == src_st.st_ino) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing to export onto the source itself: ", path, " is ", source,
          "; choose another output file"));
    }
    if (exists && S_ISREG(out_st.st_mode) && !force) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " exists; kcorefs export does not overwrite a file unless given --force"));
    }
    if (exists && S_ISSOCK(out_st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " is a socket; kcorefs export writes a file, a device, a FIFO or stdout (-o -)"));
    }
    OutputFile f;
    if (exists && S_ISFIFO(out_st.st_mode)) {
      KCOREFS_ASSIGN_OR_RETURN(f.fd_, OpenFifo(path));
    } else {
      int flags = O_WRONLY | O_CLOEXEC | (exists ? 0 : O_CREAT | O_EXCL);
      f.fd_.Reset(::open(path.c_str(), flags, 0600));
    }
    if (!f.fd_.valid()) return base::ErrnoError(errno, absl::StrCat("open ", path));
    struct stat st;
    if (::fstat(f.fd_.get(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("stat ", path));
    f.regular_ = S_ISREG(st.st_mode);
    // Only a regular file keeps holes where nothing is written; a device would keep its old
    // bytes there, and a FIFO, a tty or /dev/null cannot take a pwrite or a size, so
    // everything else gets the view as a stream, zeros written out.
    f.seekable_ = f.regular_;
    f.created_ = !exists;
    if (f.regular_ && ::ftruncate(f.fd_.get(), 0) != 0) {
      return base::ErrnoError(errno, absl::StrCat("truncate ", path));
    }
    // Where the bytes really go, for removal: a symlink's target, not the link.
    char real[PATH_MAX];
    ssize_t n = ::readlink(absl::StrCat("/proc/self/fd/", f.fd_.get()).c_str(), real, sizeof(real) - 1);
    f.real_path_ = n > 0 ? std::string(real, static_cast<size_t>(n)) : path;
    return f;
  }

  int fd() const { return fd_.get(); }
  // A regular file (holes stay holes); stdout and everything else is written as a stream.
  bool seekable() const { return seekable_; }
  // A partial core would mislead. Only a regular file is touched (never a device): one
  // this export created is removed, one it overwrote (--force) is emptied.
  void RemovePartial() {
    if (!regular_) return;
    if (created_) ::unlink(real_path_.c_str());
    else if (::ftruncate(fd_.get(), 0) != 0) {}
  }

 private:
  base::UniqueFd fd_;
  bool regular_ = false;
  bool seekable_ = false;
  bool created_ = false;
  std::string real_path_;
};

}  // namespace

int ExportCommand(int argc, char** argv) {
  static const struct option kLong[] = {
      {"view", required_argument, nullptr, 'w'}, {"output", required_argument, nullptr, 'o'},
      {"vmcoreinfo", required_argument, nullptr, 'V'}, {"option", required_argument, nullptr, 'O'},
      {"force", no_argument, nullptr, 'F'}, {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0}};
  std::string view_name = "vmcore", output;
  bool force = false;
  SourceOptions source_opts;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "o:O:h", kLong, nullptr)) != -1) {
    switch (c) {
      case 'w': view_name = optarg; break;
      case 'o': output = optarg; break;
      case 'V': source_opts.vmcoreinfo_file = optarg; break;
      case 'F': force = true; break;
      case 'O':
        if (absl::Status s = source_opts.config.ParseList(optarg); !s.ok()) {
          base::LogError(std::string(s.message()));
          return 2;
        }
        break;
      case 'h': std::fputs(kExportUsage, stdout); return 0;
      default: std::fputs(kExportUsage, stderr); return 2;
    }
  }
  const char* problem = argc - optind < 1  ? "no SOURCE given"
                        : argc - optind > 1 ? "more than one SOURCE given"
                        : output.empty()    ? "no output given (-o FILE, or -o - for stdout)"
                                            : nullptr;
  if (problem != nullptr) {
    std::fprintf(stderr, "kcorefs export: %s\n\n%s", problem, kExportUsage);
    return 2;
  }
  auto backend = OpenSource(argv[optind], std::move(source_opts));
  if (!backend.ok()) {
    base::LogError(std::string(backend.status().message()));
    return 1;
  }
  auto snap = (*backend)->Current();
  absl::StatusOr<std::shared_ptr<const elf::CoreView>> view =
      snap.ok() ? elf::CoreView::Build(view_name, *snap) : snap.status();
  if (!view.ok()) {
    base::LogError(std::string(view.status().message()));
    return 1;
  }
  for (const std::string& w : (*snap)->warnings) base::LogWarning(w);
  for (const std::string& w : (*view)->warnings()) base::LogWarning(w);
  bool to_stdout = output == "-";
  auto out = to_stdout ? OutputFile::Stdout() : OutputFile::Create(output, force, (*backend)->source());
  if (!out.ok()) {
    base::LogError(std::string(out.status().message()));
    return 1;
  }
  absl::Status s = Export(**view, out->fd(), out->seekable());
  if (!s.ok()) {
    // ext4 stops at 16 TiB; the kcore layout is ~100 TiB sparse, like /proc/kcore.
    std::string hint = absl::IsOutOfRange(s) || absl::StrContains(s.message(), "too large")
                           ? absl::StrCat(" (the ", view_name, " view is ", (*view)->size(),
                                          " bytes; write it to a file system that allows files "
                                          "that large, such as tmpfs, XFS or btrfs, or to a pipe)")
                           : "";
    base::LogError(absl::StrCat("export to ", output, " failed: ", s.message(), hint));
    out->RemovePartial();
    return 1;
  }
  return 0;
}

}  // namespace kcorefs::cli
