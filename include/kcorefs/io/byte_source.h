// ByteSource: random-access bytes addressed by offset (a file, a device, a buffer, an NBD
// export, a GDB stub). Knows transports and their errors, not kernel addresses.
//
// The contract every source keeps (docs/backend-api.md, "Reads"):
//  - every read carries a deadline; a source that cannot finish by then returns
//    DeadlineExceeded (classified transient) instead of blocking its caller;
//  - a batch of ranges may be read with one call, so a remote source can pipeline them;
//  - a source may report extents (data, hole, zero) so excluded pages become gaps;
//  - an fd-backed source exposes its fd (FUSE may splice from it);
//  - failures carry an ErrorKind payload (base/errors.h), never matched by message text.
// Caching, readahead, retry and deadline enforcement are decorators (io/decorators.h).
#ifndef KCOREFS_IO_BYTE_SOURCE_H_
#define KCOREFS_IO_BYTE_SOURCE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kcorefs/base/unique_fd.h"

namespace kcorefs::io {

// No deadline: local files and buffers, and callers that accept a blocking read.
inline absl::Time NoDeadline() { return absl::InfiniteFuture(); }

// One range of a batched read.
struct ReadRequest {
  uint64_t offset = 0;
  absl::Span<uint8_t> out;
};

// What a range of a source holds. kHole: the source has no bytes there (an excluded page
// of a filtered dump, a region never saved); views leave it out of their segments. kZero:
// the source recorded zeros (a sparse file's hole, a zero page); reads return zeros.
enum class ExtentKind { kData, kZero, kHole };

struct SourceExtent {
  uint64_t offset = 0;
  uint64_t length = 0;
  ExtentKind kind = ExtentKind::kData;
  uint64_t end() const { return offset + length; }
};

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Fills all of `out` from `offset` by `deadline`. A read past the end is OutOfRange
  // naming the offset; a transport failure keeps its kind. Thread-safe unless the owning
  // backend declares a serialized thread model.
  absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> out,
                      absl::Time deadline = NoDeadline()) const {
    return DoRead(offset, out, deadline);
  }
  // Reads every request by `deadline`; the first failure is returned (requests after it
  // may or may not have been filled). Remote sources override DoReadMany to pipeline.
  absl::Status ReadMany(absl::Span<const ReadRequest> requests,
                        absl::Time deadline = NoDeadline()) const {
    return DoReadMany(requests, deadline);
  }
  // What [offset, offset + length) holds, in order, covering the range exactly. The
  // default is one data extent.
  virtual absl::StatusOr<std::vector<SourceExtent>> Extents(uint64_t offset,
                                                            uint64_t length) const {
    return std::vector<SourceExtent>{{offset, length, ExtentKind::kData}};
  }
  // An fd whose pread() at the same offsets gives the same bytes, or nullopt. Only a
  // source that is exactly a file or device says yes (FUSE may splice from it).
  virtual std::optional<int> fd() const { return std::nullopt; }
  // The whole source when it is bytes in memory, else empty: a reader may take them in
  // place instead of copying them out with ReadAt (FUSE replies point at them).
  virtual absl::Span<const uint8_t> memory() const { return {}; }
  // The read size this source is most efficient at (scans and readahead use it).
  virtual uint64_t preferred_read_size() const { return 1 << 20; }
  // Size in bytes as last known (a device may report 0: unknown).
  virtual uint64_t size() const = 0;
  // What to call this source in messages (a path, a URI).
  virtual const std::string& name() const = 0;
  // Bytes read so far, for `kcorefs info` on a mount and the unmount summary.
  uint64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }
  // Counts bytes a reader took through fd() or memory() rather than ReadAt (a FUSE splice),
  // so bytes_read() stays true.
  void CountExternalRead(uint64_t n) const { CountRead(n); }

 protected:
  virtual absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out,
                              absl::Time deadline) const = 0;
  // Default: the requests one after another.
  virtual absl::Status DoReadMany(absl::Span<const ReadRequest> requests,
                                  absl::Time deadline) const;
  void CountRead(uint64_t n) const { bytes_read_.fetch_add(n, std::memory_order_relaxed); }
  // Counts every byte of a batch that was read whole.
  void CountRead(absl::Span<const ReadRequest> requests) const {
    for (const ReadRequest& r : requests) CountRead(r.out.size());
  }

 private:
  mutable std::atomic<uint64_t> bytes_read_{0};
};

// How reads share the file's open file description.
enum class FileSharing {
  kShared,  // every read on one fd
  // No two reads at once on one open file: each concurrent read borrows an fd of its own
  // (re-opened through /proc/self/fd, so the same file). /proc/kcore needs it: the kernel
  // copies kernel-text and RAM pages through one bounce buffer per open file
  // (fs/proc/kcore.c, filp->private_data), so two reads in flight on one fd can return
  // each other's bytes. fd() is nullopt then (a splice would share the fd).
  kOneReaderPerOpen,
};

// pread() on a file or device. Short reads are retried; EOF is OutOfRange. Local reads do
// not time out (the kernel gives no way to cancel a pread); a deadline already past is
// DeadlineExceeded before the read starts.
class FileByteSource final : public ByteSource {
 public:
  static absl::StatusOr<std::shared_ptr<FileByteSource>> Open(
      const std::string& path, FileSharing sharing = FileSharing::kShared);
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return path_; }
  std::optional<int> fd() const override {
    if (sharing_ == FileSharing::kOneReaderPerOpen) return std::nullopt;
    return fd_.get();
  }
  // SEEK_DATA/SEEK_HOLE: a sparse file's holes are kZero.
  absl::StatusOr<std::vector<SourceExtent>> Extents(uint64_t offset,
                                                    uint64_t length) const override;
  // Re-reads the size (st_size) of the open file.
  absl::StatusOr<uint64_t> Stat() const;

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const override;

 private:
  FileByteSource(std::string path, base::UniqueFd fd, uint64_t size, bool regular,
                 FileSharing sharing)
      : path_(std::move(path)), fd_(std::move(fd)), size_(size), regular_(regular),
        sharing_(sharing) {}
  absl::Status PreadAll(int fd, uint64_t offset, absl::Span<uint8_t> out) const;
  // An fd no other read is using (kOneReaderPerOpen), and its return.
  absl::StatusOr<base::UniqueFd> BorrowFd() const;
  void ReturnFd(base::UniqueFd fd) const;
  std::string path_;
  base::UniqueFd fd_;
  uint64_t size_;
  bool regular_;
  const FileSharing sharing_;
  mutable absl::Mutex pool_mu_;
  mutable std::vector<base::UniqueFd> pool_ ABSL_GUARDED_BY(pool_mu_);
};

// Bytes held in memory: generated headers, notes, test fixtures.
class BufferByteSource final : public ByteSource {
 public:
  BufferByteSource(std::string name, std::string bytes)
      : name_(std::move(name)), bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  const std::string& name() const override { return name_; }
  const std::string& bytes() const { return bytes_; }
  absl::Span<const uint8_t> memory() const override {
    return {reinterpret_cast<const uint8_t*>(bytes_.data()), bytes_.size()};
  }

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const override;

 private:
  std::string name_;
  std::string bytes_;
};

}  // namespace kcorefs::io

#endif  // KCOREFS_IO_BYTE_SOURCE_H_
