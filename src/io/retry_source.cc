#include "kcorefs/io/retry_source.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"

namespace kcorefs::io {

absl::StatusOr<std::shared_ptr<RetryByteSource>> RetryByteSource::Create(
    std::shared_ptr<const ByteSource> inner, RetryOptions options) {
  if (inner == nullptr) return absl::InvalidArgumentError("RetryByteSource: no inner source");
  const RetryOptions& o = options;
  if (o.max_attempts < 1 || o.initial_delay < absl::ZeroDuration() ||
      o.max_delay < absl::ZeroDuration() || !(o.multiplier >= 1.0) ||
      o.attempt_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        inner->name(), ": retry options need max_attempts >= 1, delays >= 0, multiplier >= 1"
                       " and a positive attempt timeout"));
  }
  return std::shared_ptr<RetryByteSource>(new RetryByteSource(std::move(inner), options));
}

absl::Status RetryByteSource::Retry(absl::Time deadline,
                                    absl::FunctionRef<absl::Status(absl::Time)> attempt) const {
  absl::Duration delay = options_.initial_delay;
  for (int n = 1;; ++n) {
    const absl::Time attempt_deadline =
        options_.attempt_timeout == absl::InfiniteDuration()
            ? deadline
            : std::min(deadline, absl::Now() + options_.attempt_timeout);
    absl::Status status = attempt(attempt_deadline);
    if (status.ok() || base::KindOf(status) != base::ErrorKind::kTransient) return status;
    const bool out_of_attempts = n >= options_.max_attempts;
    // A sleep that ends at or past the deadline leaves no time for the attempt after it.
    const bool out_of_time = deadline != NoDeadline() && absl::Now() + delay >= deadline;
    if (out_of_attempts || out_of_time) {
      if (n == 1) return status;
      return base::Annotate(status, absl::StrCat("gave up after ", n, " attempts",
                                                 out_of_time ? " (out of time)" : ""));
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    absl::SleepFor(delay);
    delay = std::min(options_.max_delay, delay * options_.multiplier);
  }
}

absl::Status RetryByteSource::DoRead(uint64_t offset, absl::Span<uint8_t> out,
                                     absl::Time deadline) const {
  absl::Status status =
      Retry(deadline, [&](absl::Time d) { return inner_->ReadAt(offset, out, d); });
  if (status.ok()) CountRead(out.size());
  return status;
}

absl::Status RetryByteSource::DoReadMany(absl::Span<const ReadRequest> requests,
                                         absl::Time deadline) const {
  // A failed batch is retried whole: which of its requests were filled is not known.
  absl::Status status =
      Retry(deadline, [&](absl::Time d) { return inner_->ReadMany(requests, d); });
  if (status.ok()) CountRead(requests);
  return status;
}

absl::StatusOr<std::vector<SourceExtent>> RetryByteSource::Extents(uint64_t offset,
                                                                   uint64_t length) const {
  absl::StatusOr<std::vector<SourceExtent>> result;
  absl::Status status = Retry(NoDeadline(), [&](absl::Time) {
    result = inner_->Extents(offset, length);
    return result.status();
  });
  if (!status.ok()) return status;
  return result;
}

}  // namespace kcorefs::io
