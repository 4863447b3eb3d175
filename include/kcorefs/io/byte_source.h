// ByteSource: random-access bytes addressed by offset (a file, a device, a buffer, later an
// NBD export or a GDB stub). Knows transports and their errors, not kernel addresses.
#ifndef KCOREFS_IO_BYTE_SOURCE_H_
#define KCOREFS_IO_BYTE_SOURCE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kcorefs/base/unique_fd.h"

namespace kcorefs::io {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Fills all of `out` from `offset`. A read past the end is OutOfRange naming the offset;
  // a transport failure keeps its errno-derived code. Thread-safe.
  virtual absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> out) const = 0;
  // Size in bytes as last known (a device may report 0: unknown).
  virtual uint64_t size() const = 0;
  // What to call this source in messages (a path, a URI).
  virtual const std::string& name() const = 0;
  // Bytes read so far, for `kcorefs info` on a mount and the unmount summary.
  uint64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }

 protected:
  void CountRead(uint64_t n) const { bytes_read_.fetch_add(n, std::memory_order_relaxed); }

 private:
  mutable std::atomic<uint64_t> bytes_read_{0};
};

// pread() on a file or device. Short reads are retried; EOF is OutOfRange.
class FileByteSource final : public ByteSource {
 public:
  static absl::StatusOr<std::shared_ptr<FileByteSource>> Open(const std::string& path);
  absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> out) const override;
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return path_; }
  int fd() const { return fd_.get(); }
  // Re-reads the size (st_size) of the open file.
  absl::StatusOr<uint64_t> Stat() const;

 private:
  FileByteSource(std::string path, base::UniqueFd fd, uint64_t size)
      : path_(std::move(path)), fd_(std::move(fd)), size_(size) {}
  std::string path_;
  base::UniqueFd fd_;
  uint64_t size_;
};

// Bytes held in memory: generated headers, notes, test fixtures.
class BufferByteSource final : public ByteSource {
 public:
  BufferByteSource(std::string name, std::string bytes)
      : name_(std::move(name)), bytes_(std::move(bytes)) {}
  absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> out) const override;
  uint64_t size() const override { return bytes_.size(); }
  const std::string& name() const override { return name_; }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string name_;
  std::string bytes_;
};

}  // namespace kcorefs::io

#endif  // KCOREFS_IO_BYTE_SOURCE_H_
