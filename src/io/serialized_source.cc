#include "kcorefs/io/serialized_source.h"

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::io {

absl::Status SerializedByteSource::Acquire(absl::Time deadline) const {
  const absl::Time start = absl::Now();
  // The mutex is held only to flip busy_, so taking it never waits long; the wait for the
  // turn itself is the condition, which honours the deadline.
  if (!mu_.LockWhenWithDeadline(absl::Condition(this, &SerializedByteSource::Free), deadline)) {
    mu_.Unlock();
    return base::DeadlineError(absl::StrCat("waited ", absl::FormatDuration(absl::Now() - start),
                                            " for ", name(),
                                            " to finish its previous request (one at a time)"));
  }
  busy_ = true;
  mu_.Unlock();
  return absl::OkStatus();
}

void SerializedByteSource::Release() const {
  absl::MutexLock l(&mu_);
  busy_ = false;
}

absl::Status SerializedByteSource::DoRead(uint64_t offset, absl::Span<uint8_t> out,
                                          absl::Time deadline) const {
  KCOREFS_RETURN_IF_ERROR(Acquire(deadline));
  absl::Status status = inner_->ReadAt(offset, out, deadline);
  Release();
  if (status.ok()) CountRead(out.size());
  return status;
}

absl::Status SerializedByteSource::DoReadMany(absl::Span<const ReadRequest> requests,
                                              absl::Time deadline) const {
  KCOREFS_RETURN_IF_ERROR(Acquire(deadline));
  absl::Status status = inner_->ReadMany(requests, deadline);
  Release();
  if (status.ok()) CountRead(requests);
  return status;
}

absl::StatusOr<std::vector<SourceExtent>> SerializedByteSource::Extents(uint64_t offset,
                                                                        uint64_t length) const {
  KCOREFS_RETURN_IF_ERROR(Acquire(NoDeadline()));
  auto result = inner_->Extents(offset, length);
  Release();
  return result;
}

}  // namespace kcorefs::io
