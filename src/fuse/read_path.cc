#include "fuse/read_path.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "fuse/errno_map.h"
#include "fuse/filesystem.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::fuse {
namespace {

constexpr uint64_t kPage = 4096;
// Parts of one reply: writev and vmsplice take at most IOV_MAX (1024) vectors. A range cut
// finer than this (a corrupt source's tiny segments) is read flat into the buffer.
constexpr size_t kMaxParts = 256;
// The per-thread pipe: room for a 1 MiB reply cut at unaligned offsets, or, without
// CAP_SYS_RESOURCE, /proc/sys/fs/pipe-max-size (1 MiB by default; mount.cc then keeps
// requests under it). A reply that needs more pipe slots than there are is copied.
constexpr int kPipeBytes[] = {2 << 20, 1 << 20};

// Never written, so every page of it is the kernel's zero page: gaps cost no memory.
alignas(kPage) uint8_t g_zeros[1 << 20];

// How a part of the reply gets its bytes.
enum class How {
  kMemory,    // in place: the header (or another in-memory source), a gap (g_zeros)
  kRead,      // to be read into the per-thread buffer
  kBuffered,  // read into the per-thread buffer
  kSplice,    // to be spliced from the source's fd into the pipe
};

struct Part {
  How how;
  const uint8_t* mem;            // kMemory, kBuffered
  uint64_t length;
  const io::ByteSource* source;  // null for a gap
  uint64_t source_offset;
  uint64_t view_offset;          // for error messages
  // kSplice: the source's fd, taken once when the part is planned (a source may withdraw
  // its fd later, as a dump that changed under the mount does; this reply keeps it).
  int fd = -1;
};

// A pipe this thread splices a reply into; libfuse then moves it to /dev/fuse.
class ReplyPipe {
 public:
  ReplyPipe() = default;
  ReplyPipe(const ReplyPipe&) = delete;
  ReplyPipe& operator=(const ReplyPipe&) = delete;
  ~ReplyPipe() { Reset(); }

  // Creates the pipe on first use. False when no pipe can be had (then replies are copied).
  bool Ready() {
    if (fds_[0] >= 0) return true;
    if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) return false;
    for (int bytes : kPipeBytes) {
      if (::fcntl(fds_[1], F_SETPIPE_SZ, bytes) >= 0) break;
    }
    int bytes = ::fcntl(fds_[1], F_GETPIPE_SZ);
    slots_ = bytes > 0 ? static_cast<size_t>(bytes) / kPage : 0;
    return true;
  }
  // Drops whatever is in the pipe (a reply given up half-way must not reach the next one).
  void Reset() {
    for (int& fd : fds_) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
    slots_ = 0;
  }
  bool Empty() const {
    int queued = 0;
    return ::ioctl(fds_[0], FIONREAD, &queued) == 0 && queued == 0;
  }
  int read_fd() const { return fds_[0]; }
  int write_fd() const { return fds_[1]; }
  size_t slots() const { return slots_; }

 private:
  int fds_[2] = {-1, -1};
  size_t slots_ = 0;
};

// One per loop thread: no allocation per read once a thread has served its largest read.
struct ThreadState {
  std::vector<Part> parts;
  std::vector<uint8_t> buf;
  std::vector<iovec> iov;
  ReplyPipe pipe;
  // When the request being served must be answered by (ReadPathOptions::read_timeout):
  // every source read of the request gets it.
  absl::Time deadline = absl::InfiniteFuture();
};

// A source this thread found it cannot splice from (its file type has no splice_read):
// its data is read instead, without trying again on every reply.
thread_local const io::ByteSource* t_unspliceable = nullptr;

ThreadState& State() {
  thread_local ThreadState state;
  return state;
}

// A pipe buffer holds at most one page: the slots `len` bytes at `addr` take.
uint64_t PagesTouched(uint64_t addr, uint64_t len) {
  return (addr % kPage + len + kPage - 1) / kPage;
}

void AddGap(uint64_t length, uint64_t pos, std::vector<Part>& parts) {
  while (length > 0) {
    uint64_t n = std::min<uint64_t>(length, sizeof(g_zeros));
    parts.push_back({How::kMemory, g_zeros, n, nullptr, 0, pos});
    length -= n;
    pos += n;
  }
}

void AddPart(const elf::Piece& p, uint64_t pos, bool splice, std::vector<Part>& parts) {
  if (p.source == nullptr) return AddGap(p.length, pos, parts);
  absl::Span<const uint8_t> mem = p.source->memory();
  // A range outside the memory is left to ReadAt, which reports it.
  if (!mem.empty() && p.source_offset <= mem.size() && p.length <= mem.size() - p.source_offset) {
    parts.push_back({How::kMemory, mem.data() + p.source_offset, p.length, p.source,
                     p.source_offset, pos});
    return;
  }
  std::optional<int> fd;
  if (splice && p.source != t_unspliceable) fd = p.source->fd();
  parts.push_back({fd.has_value() ? How::kSplice : How::kRead, nullptr, p.length, p.source,
                   p.source_offset, pos, fd.value_or(-1)});
}

// The parts of [offset, offset + n); false when there are more than kMaxParts.
bool Plan(const elf::CoreView& view, uint64_t offset, uint64_t n, bool splice,
          std::vector<Part>& parts) {
  parts.clear();
  uint64_t pos = offset;
  absl::Status s = view.ForEachPiece(offset, n, [&](const elf::Piece& p) {
    AddPart(p, pos, splice, parts);
    pos += p.length;
    return parts.size() > kMaxParts ? absl::ResourceExhaustedError("too many parts")
                                    : absl::OkStatus();
  });
  return s.ok();
}

// Reads the kRead parts into `buf`, which is sized first so the pointers stay valid.
absl::Status ReadParts(const elf::CoreView& view, std::vector<Part>& parts,
                       std::vector<uint8_t>& buf) {
  size_t need = 0;
  for (const Part& p : parts) need += p.how == How::kRead ? p.length : 0;
  if (buf.size() < need) buf.resize(need);
  uint8_t* at = buf.data();
  for (Part& p : parts) {
    if (p.how != How::kRead) continue;
    absl::Status s = p.source->ReadAt(p.source_offset, absl::MakeSpan(at, p.length), State().deadline);
    if (!s.ok()) return base::Annotate(s, view.DescribeOffset(p.view_offset));
    p.how = How::kBuffered;
    p.mem = at;
    at += p.length;
  }
  return absl::OkStatus();
}

// The whole range read into `buf` as one part (ReadAt: for ranges cut too fine).
absl::Status ReadFlat(const elf::CoreView& view, uint64_t offset, uint64_t n, ThreadState& st) {
  if (st.buf.size() < n) st.buf.resize(n);
  KCOREFS_ASSIGN_OR_RETURN(size_t got,
                           view.ReadAt(offset, absl::MakeSpan(st.buf.data(), n), st.deadline));
  st.parts.assign(1, Part{How::kBuffered, st.buf.data(), got, nullptr, 0, offset});
  return absl::OkStatus();
}

// The pipe slots a part takes.
uint64_t SlotsOf(const Part& p) {
  switch (p.how) {
    case How::kSplice: return PagesTouched(p.source_offset, p.length);
    case How::kRead: return PagesTouched(kPage - 1, p.length);  // its place is not known yet
    default: return PagesTouched(reinterpret_cast<uintptr_t>(p.mem), p.length);
  }
}

// Whether the parts fit the pipe, and the pipe libfuse sizes for the reply (it asks for
// three pages more than the reply, rounded up to a power of two by the kernel).
bool FitsPipes(const std::vector<Part>& parts, uint64_t n, size_t pipe_slots) {
  uint64_t slots = 0;
  for (const Part& p : parts) slots += SlotsOf(p);
  uint64_t libfuse_slots = 1;
  while (libfuse_slots * kPage < 3 * kPage + 16 + n) libfuse_slots *= 2;
  return slots <= pipe_slots && slots + 1 <= libfuse_slots;
}

bool SplicePart(const Part& p, int pipe_fd) {
  loff_t off = static_cast<loff_t>(p.source_offset);
  uint64_t left = p.length;
  const int fd = p.fd;
  while (left > 0) {
    ssize_t r = ::splice(fd, &off, pipe_fd, nullptr, left, SPLICE_F_NONBLOCK);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EINVAL) t_unspliceable = p.source;
    if (r <= 0) return false;  // EOF, a read error, a full pipe: the copy path reports it
    left -= static_cast<uint64_t>(r);
  }
  return true;
}

// vmsplice maps the pages into the pipe without copying; they stay unchanged until the
// reply is sent (the header and the buffer belong to this request until it returns).
bool VmspliceAll(std::vector<iovec>& iov, int pipe_fd) {
  size_t i = 0;
  while (i < iov.size()) {
    const size_t count = std::min<size_t>(iov.size() - i, kMaxParts);
    ssize_t r = ::vmsplice(pipe_fd, &iov[i], count, SPLICE_F_NONBLOCK);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    for (size_t done = static_cast<size_t>(r); done > 0;) {
      size_t take = std::min(done, iov[i].iov_len);
      iov[i].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + take;
      iov[i].iov_len -= take;
      done -= take;
      if (iov[i].iov_len == 0) ++i;
    }
  }
  return true;
}

// The parts in order into the pipe: fd-backed ones spliced, runs of memory ones vmspliced.
bool FillPipe(ThreadState& st) {
  const std::vector<Part>& parts = st.parts;
  for (size_t i = 0; i < parts.size();) {
    if (parts[i].how == How::kSplice) {
      if (!SplicePart(parts[i++], st.pipe.write_fd())) return false;
      continue;
    }
    st.iov.clear();
    for (; i < parts.size() && parts[i].how != How::kSplice; ++i) {
      st.iov.push_back({const_cast<uint8_t*>(parts[i].mem), parts[i].length});
    }
    if (!VmspliceAll(st.iov, st.pipe.write_fd())) return false;
  }
  return true;
}

bool HasSplice(const std::vector<Part>& parts) {
  for (const Part& p : parts) {
    if (p.how == How::kSplice) return true;
  }
  return false;
}

// Plans the reply and reads what must be read; splicing only when the pipes can take it.
absl::Status PlanAndRead(const elf::CoreView& view, uint64_t offset, uint64_t n, bool splice,
                         ThreadState& st) {
  if (!Plan(view, offset, n, splice, st.parts)) return ReadFlat(view, offset, n, st);
  if (splice && !FitsPipes(st.parts, n, st.pipe.slots())) {
    for (Part& p : st.parts) p.how = p.how == How::kSplice ? How::kRead : p.how;
  }
  return ReadParts(view, st.parts, st.buf);
}

// Whether every page of the part's range is in the page cache (cachestat(2), Linux 6.5):
// splicing it then starts no I/O, so it cannot fail half-way through a reply.
bool Resident(const Part& p) {
  struct Range {
    uint64_t off, len;
  } range{p.source_offset, p.length};
  struct Stat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
  } st{};
  constexpr long kCachestat = 451;  // x86_64 and the generic table alike
  static std::atomic<bool> missing{false};
  if (missing.load(std::memory_order_relaxed)) return false;
  if (::syscall(kCachestat, p.fd, &range, &st, 0) != 0) {
    if (errno == ENOSYS) missing.store(true, std::memory_order_relaxed);
    return false;
  }
  return st.nr_cache == PagesTouched(p.source_offset, p.length);
}

// Where the reply's bytes are.
enum class Reply {
  kMemory,    // st.parts point at them
  kPipe,      // in the thread's pipe
  kSourceFd,  // one resident range of a source's fd, which libfuse splices itself
};

// Gets the reply's bytes. Every source read is done here, before the reply starts, except
// one resident fd range, which cannot fail (above) and saves the pipe-to-pipe move;
// `fd_ok` is false under a serialized backend's lock, which the reply would not hold.
absl::StatusOr<Reply> Prepare(const elf::CoreView& view, uint64_t offset, uint64_t n,
                              bool splice, bool fd_ok, ThreadState& st) {
  splice = splice && st.pipe.Ready();
  KCOREFS_RETURN_IF_ERROR(PlanAndRead(view, offset, n, splice, st));
  if (!HasSplice(st.parts)) return Reply::kMemory;
  if (fd_ok && st.parts.size() == 1 && Resident(st.parts[0])) return Reply::kSourceFd;
  if (FillPipe(st)) return Reply::kPipe;
  // What went in is dropped, and the copy path reads again: a failing source is then
  // reported by ReadAt as on any other read.
  st.pipe.Reset();
  KCOREFS_RETURN_IF_ERROR(PlanAndRead(view, offset, n, false, st));
  return Reply::kMemory;
}

absl::StatusOr<Reply> PrepareLocked(Filesystem& fs, const elf::CoreView& view, uint64_t offset,
                                    uint64_t n, bool splice, ThreadState& st) {
  absl::Mutex* mu = fs.serial_mu();
  if (mu == nullptr) return Prepare(view, offset, n, splice, true, st);
  absl::MutexLock lock(mu);
  return Prepare(view, offset, n, splice, false, st);
}

void ReplyFromMemory(fuse_req_t req, ThreadState& st) {
  if (st.parts.empty()) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  if (st.parts.size() == 1) {
    fuse_reply_buf(req, reinterpret_cast<const char*>(st.parts[0].mem), st.parts[0].length);
    return;
  }
  st.iov.clear();
  for (const Part& p : st.parts) st.iov.push_back({const_cast<uint8_t*>(p.mem), p.length});
  fuse_reply_iov(req, st.iov.data(), static_cast<int>(st.iov.size()));
}

// Without FUSE_BUF_SPLICE_MOVE: asking the kernel to steal the pages measured slower.
void ReplyFromPipe(fuse_req_t req, ThreadState& st, uint64_t n) {
  fuse_bufvec bv = FUSE_BUFVEC_INIT(n);
  bv.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_RETRY);
  bv.buf[0].fd = st.pipe.read_fd();
  fuse_reply_data(req, &bv, static_cast<fuse_buf_copy_flags>(0));
  // A send that failed (an interrupted request) may leave bytes behind.
  if (!st.pipe.Empty()) st.pipe.Reset();
}

void ReplyFromSourceFd(fuse_req_t req, const Part& p) {
  fuse_bufvec bv = FUSE_BUFVEC_INIT(p.length);
  bv.buf[0].flags =
      static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY);
  bv.buf[0].fd = p.fd;
  bv.buf[0].pos = static_cast<off_t>(p.source_offset);
  fuse_reply_data(req, &bv, static_cast<fuse_buf_copy_flags>(0));
}

void CountSourceReads(const std::vector<Part>& parts) {
  for (const Part& p : parts) {
    // Buffered parts were counted by ReadAt; spliced and in-place ones are counted here.
    if (p.source != nullptr && (p.how == How::kSplice || p.how == How::kMemory)) {
      p.source->CountExternalRead(p.length);
    }
  }
}

}  // namespace

void ReplyRead(fuse_req_t req, Filesystem& fs, const elf::CoreView& view, uint64_t offset,
               size_t size) {
  ThreadState& st = State();
  st.deadline = absl::Now() + fs.read_path().read_timeout;
  const uint64_t n = view.Clip(offset, size);
  const bool splice = fs.read_path().splice && n >= fs.read_path().splice_min;
  absl::StatusOr<Reply> reply = PrepareLocked(fs, view, offset, n, splice, st);
  if (!reply.ok()) {
    fs.ReadFailed(reply.status());
    fuse_reply_err(req, SourceErrno(reply.status()));
    return;
  }
  fs.CountRead(n);
  CountSourceReads(st.parts);
  if (*reply != Reply::kMemory) fs.CountSpliced(n);
  switch (*reply) {
    case Reply::kMemory: return ReplyFromMemory(req, st);
    case Reply::kPipe: return ReplyFromPipe(req, st, n);
    case Reply::kSourceFd: return ReplyFromSourceFd(req, st.parts[0]);
  }
}

}  // namespace kcorefs::fuse
