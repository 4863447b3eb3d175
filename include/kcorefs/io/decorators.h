// The ByteSource decorators every remote backend shares, and the one way to stack them.
//
// Order, from the caller down (WrapRemote builds it):
//
//   CachingByteSource   hits never reach anything below; one fetch serves every reader
//        |              waiting for a block, and a miss with its readahead is one batch
//   RetryByteSource     each transient failure below (a dropped link, a stalled attempt)
//        |              is tried again while the caller's deadline allows
//   DeadlineByteSource  bounds every attempt: a read that stalls returns DeadlineExceeded
//        |              (transient, so the retry above may try again) on time
//   SerializedByteSource  (serial transports only) one request on the wire at a time
//        |
//   transport
//
// Why this order:
//  - The cache is on top so a hit costs no thread hand-off, no retry bookkeeping and no
//    deadline clock, and so that a retried fetch is still a single flight: readers waiting
//    for a block wait for the whole retried fetch, not for one attempt each. Errors reach
//    the cache only after retries are exhausted and are not cached.
//  - Retry sits above the deadline, not below: below, a retry loop would run (and sleep)
//    on a pool worker and one stuck attempt would hold the whole loop hostage; above,
//    every attempt is bounded, a stalled one comes back as a transient DeadlineExceeded,
//    and a stalled pool's fast "N reads are stalled" failure is backed off from, not
//    waited on.
//  - The serial guard is below the deadline, next to the transport: it must be held by
//    whichever thread is actually talking on the wire, including a worker whose caller
//    gave up. Above the deadline, an abandoned read would release the guard while its
//    request was still in flight, and the next request would interleave with it.
#ifndef KCOREFS_IO_DECORATORS_H_
#define KCOREFS_IO_DECORATORS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "kcorefs/io/block_cache.h"
#include "kcorefs/io/byte_source.h"
#include "kcorefs/io/deadline_source.h"
#include "kcorefs/io/retry_source.h"
#include "kcorefs/io/serialized_source.h"

namespace kcorefs::io {

struct RemoteOptions {
  // The transport carries one request at a time (a GDB stub).
  bool serialized = false;
  // false: the transport bounds every read by the caller's deadline itself (the nbd
  // backend's reads are asynchronous), so no worker pool is needed between.
  bool deadline_pool = true;
  DeadlineOptions deadline;
  RetryOptions retry;
  // false: no cache (every read goes to the transport).
  bool cache = true;
  CacheOptions cache_options;
};

// The stack WrapRemote builds, with each layer kept for `stats`.
struct RemoteStack {
  std::shared_ptr<const ByteSource> source;  // the top: read through this
  std::shared_ptr<const CachingByteSource> cache;  // null without a cache
  std::shared_ptr<const RetryByteSource> retry;
  std::shared_ptr<const DeadlineByteSource> deadline;  // null without the pool
};

// Stacks the decorators over `inner` in the order above. InvalidArgument for options a
// layer refuses.
absl::StatusOr<RemoteStack> BuildRemote(std::shared_ptr<const ByteSource> inner,
                                        const RemoteOptions& options);
absl::StatusOr<std::shared_ptr<const ByteSource>> WrapRemote(
    std::shared_ptr<const ByteSource> inner, const RemoteOptions& options);

}  // namespace kcorefs::io

#endif  // KCOREFS_IO_DECORATORS_H_
