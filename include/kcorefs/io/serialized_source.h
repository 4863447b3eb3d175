// SerializedByteSource: one inner call at a time, for a source whose transport carries one
// request at a time (a GDB stub's remote protocol has no request ids: two packets in
// flight would get their replies mixed up).
//
// The guard is a flag under a mutex rather than the mutex itself, so a caller waiting for
// its turn gives up at its deadline instead of queueing behind a call that never returns.
// Put it below DeadlineByteSource (decorators.h says why).
#ifndef KCOREFS_IO_SERIALIZED_SOURCE_H_
#define KCOREFS_IO_SERIALIZED_SOURCE_H_

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
#include "kcorefs/io/byte_source.h"

namespace kcorefs::io {

class SerializedByteSource final : public ByteSource {
 public:
  explicit SerializedByteSource(std::shared_ptr<const ByteSource> inner)
      : inner_(std::move(inner)) {}

  uint64_t size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  uint64_t preferred_read_size() const override { return inner_->preferred_read_size(); }
  // None: a read from the fd would bypass the guard.
  std::optional<int> fd() const override { return std::nullopt; }
  absl::StatusOr<std::vector<SourceExtent>> Extents(uint64_t offset,
                                                    uint64_t length) const override;

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out,
                      absl::Time deadline) const override;
  absl::Status DoReadMany(absl::Span<const ReadRequest> requests,
                          absl::Time deadline) const override;

 private:
  // Takes the turn by `deadline` (DeadlineExceeded otherwise); Release gives it back.
  absl::Status Acquire(absl::Time deadline) const;
  void Release() const;
  bool Free() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !busy_; }

  std::shared_ptr<const ByteSource> inner_;
  mutable absl::Mutex mu_;
  mutable bool busy_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kcorefs::io

#endif  // KCOREFS_IO_SERIALIZED_SOURCE_H_
