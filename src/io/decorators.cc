#include "kcorefs/io/decorators.h"

#include <utility>

#include "kcorefs/base/status_macros.h"

namespace kcorefs::io {

absl::StatusOr<RemoteStack> BuildRemote(std::shared_ptr<const ByteSource> inner,
                                        const RemoteOptions& options) {
  if (inner == nullptr) return absl::InvalidArgumentError("WrapRemote: no inner source");
  RemoteStack stack;
  std::shared_ptr<const ByteSource> top = std::move(inner);
  if (options.serialized) top = std::make_shared<SerializedByteSource>(std::move(top));
  if (options.deadline_pool) {
    KCOREFS_ASSIGN_OR_RETURN(stack.deadline, DeadlineByteSource::Create(top, options.deadline));
    top = stack.deadline;
  }
  KCOREFS_ASSIGN_OR_RETURN(stack.retry, RetryByteSource::Create(top, options.retry));
  top = stack.retry;
  if (options.cache) {
    KCOREFS_ASSIGN_OR_RETURN(stack.cache, CachingByteSource::Create(top, options.cache_options));
    top = stack.cache;
  }
  stack.source = std::move(top);
  return stack;
}

absl::StatusOr<std::shared_ptr<const ByteSource>> WrapRemote(
    std::shared_ptr<const ByteSource> inner, const RemoteOptions& options) {
  KCOREFS_ASSIGN_OR_RETURN(RemoteStack stack, BuildRemote(std::move(inner), options));
  return std::move(stack.source);
}

}  // namespace kcorefs::io
