// The physical address space of a dump libkdumpfile reads, as a ByteSource: offset is the
// physical address. Pages are decompressed on each read by the calling thread's own
// libkdumpfile context (libkdumpfile's shared cache keeps recently used pages).
#ifndef KCOREFS_BACKENDS_KDUMP_KDUMP_SOURCE_H_
#define KCOREFS_BACKENDS_KDUMP_KDUMP_SOURCE_H_

#include <memory>
#include <string>

#include "backends/kdump/kdump_context.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::backends::kdump {

class KdumpSource final : public io::ByteSource {
 public:
  // `size`: bytes of physical address space (max_pfn * page size).
  KdumpSource(std::unique_ptr<ContextPool> pool, uint64_t size)
      : pool_(std::move(pool)), size_(size) {}
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return pool_->path(); }
  // Decompression cost is per page; readahead beyond a few pages only wastes CPU.
  uint64_t preferred_read_size() const override { return 64 << 10; }

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const override;

 private:
  std::unique_ptr<ContextPool> pool_;
  uint64_t size_;
};

}  // namespace kcorefs::backends::kdump

#endif  // KCOREFS_BACKENDS_KDUMP_KDUMP_SOURCE_H_
