// RetryByteSource: retries reads that failed with a transient error (KindOf() ==
// kTransient: a dropped connection, a timed-out attempt, a busy server) with exponential
// backoff. Faults (the address is not in the source) and permanent errors are returned at
// once: asking again gives the same answer. It never sleeps past the caller's deadline,
// and it logs nothing (the caller decides what a failure is worth saying).
#ifndef KCOREFS_IO_RETRY_SOURCE_H_
#define KCOREFS_IO_RETRY_SOURCE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::io {

struct RetryOptions {
  // Attempts in all, the first included (1: no retry).
  int max_attempts = 4;
  // Sleep before the second attempt; each later one sleeps `multiplier` times longer, up to
  // max_delay.
  absl::Duration initial_delay = absl::Milliseconds(50);
  absl::Duration max_delay = absl::Seconds(2);
  double multiplier = 2.0;
  // Deadline of one attempt (capped by the caller's): a stalled attempt then leaves time
  // for another instead of using up the whole read. Infinite: each attempt gets the
  // caller's deadline.
  absl::Duration attempt_timeout = absl::InfiniteDuration();
};

class RetryByteSource final : public ByteSource {
 public:
  // InvalidArgument when max_attempts < 1, a delay is negative, multiplier < 1 or
  // attempt_timeout <= 0.
  static absl::StatusOr<std::shared_ptr<RetryByteSource>> Create(
      std::shared_ptr<const ByteSource> inner, RetryOptions options = {});

  uint64_t size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  uint64_t preferred_read_size() const override { return inner_->preferred_read_size(); }
  std::optional<int> fd() const override { return inner_->fd(); }
  absl::StatusOr<std::vector<SourceExtent>> Extents(uint64_t offset,
                                                    uint64_t length) const override;

  // Attempts after the first, over the source's life (for `stats`).
  uint64_t retries() const { return retries_.load(std::memory_order_relaxed); }

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out,
                      absl::Time deadline) const override;
  absl::Status DoReadMany(absl::Span<const ReadRequest> requests,
                          absl::Time deadline) const override;

 private:
  RetryByteSource(std::shared_ptr<const ByteSource> inner, RetryOptions options)
      : inner_(std::move(inner)), options_(options) {}
  // Runs `attempt(attempt_deadline)` until it succeeds, fails other than transiently, runs
  // out of attempts, or the next sleep would end past `deadline`.
  absl::Status Retry(absl::Time deadline, absl::FunctionRef<absl::Status(absl::Time)> attempt) const;

  std::shared_ptr<const ByteSource> inner_;
  RetryOptions options_;
  mutable std::atomic<uint64_t> retries_{0};
};

}  // namespace kcorefs::io

#endif  // KCOREFS_IO_RETRY_SOURCE_H_
