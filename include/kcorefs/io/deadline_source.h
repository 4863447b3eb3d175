// DeadlineByteSource: a read returns by its deadline even when the inner source never
// answers. A stalled remote (an NBD server that stopped replying, a GDB stub behind a hung
// link) must never hang a FUSE worker: the kernel would wait on that request forever and
// every later reader of the mount would pile up behind it.
//
// Inner reads run on a small bounded pool of worker threads. A worker reads into a buffer
// of its own, never the caller's span: a caller whose deadline passes returns, and its
// span may be gone by the time the stuck read completes. The caller waits until the worker
// is done or the deadline passes, then copies the bytes out.
//
// Threads. Workers start lazily, on the first read that needs one, and block every signal
// (the daemon's signal handlers run on FUSE threads). Backends must start threads only
// after the daemon has forked: fuse_daemonize() forks, and a child has none of its
// parent's threads. A pool used before a fork is detected in the child (getpid() changed)
// and replaced by a fresh one; the old pool is left untouched (its lock may have been held
// by a thread that does not exist in the child). That is safe only if no other thread was
// reading through this source at the moment of the fork, which holds when backends are
// opened and probed on the main thread before daemonizing.
//
// Shutdown. The destructor stops idle workers and does not wait for stuck ones: they are
// detached and keep the pool and the inner source alive (shared_ptr) until their read
// returns, then exit.
#ifndef KCOREFS_IO_DEADLINE_SOURCE_H_
#define KCOREFS_IO_DEADLINE_SOURCE_H_

#include <sys/types.h>

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

struct DeadlineOptions {
  // Deadline of a read whose caller passed NoDeadline() (and of Extents(), which takes
  // none). InfiniteDuration() waits forever: only for sources known not to stall.
  absl::Duration default_timeout = absl::Seconds(10);
  // Worker threads at most. A worker stuck in an abandoned read still counts, so a dead
  // remote cannot make the pool grow without bound; when all of them are stuck, new reads
  // fail at once (transient) instead of queueing behind them.
  int max_workers = 8;
};

namespace internal {
class DeadlinePool;
}  // namespace internal

class DeadlineByteSource final : public ByteSource {
 public:
  // InvalidArgument when max_workers < 1 or default_timeout <= 0.
  static absl::StatusOr<std::shared_ptr<DeadlineByteSource>> Create(
      std::shared_ptr<const ByteSource> inner, DeadlineOptions options = {});
  ~DeadlineByteSource() override;
  DeadlineByteSource(const DeadlineByteSource&) = delete;
  DeadlineByteSource& operator=(const DeadlineByteSource&) = delete;

  uint64_t size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  uint64_t preferred_read_size() const override { return inner_->preferred_read_size(); }
  // Runs on the pool with the default timeout: a remote answers extents over the wire.
  absl::StatusOr<std::vector<SourceExtent>> Extents(uint64_t offset,
                                                    uint64_t length) const override;
  // None: splicing from the inner fd would be a read with no deadline.
  std::optional<int> fd() const override { return std::nullopt; }

  // Reads whose caller gave up while the inner read went on (for `stats`).
  int stalled_reads() const;
  // Worker threads alive (stuck ones included).
  int workers() const;

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out,
                      absl::Time deadline) const override;
  absl::Status DoReadMany(absl::Span<const ReadRequest> requests,
                          absl::Time deadline) const override;

 private:
  DeadlineByteSource(std::shared_ptr<const ByteSource> inner, DeadlineOptions options)
      : inner_(std::move(inner)), options_(options) {}
  // The caller's deadline, or now + default_timeout for NoDeadline().
  absl::Time Effective(absl::Time deadline) const;
  // The pool of this process, created (or re-created after a fork) on first use.
  std::shared_ptr<internal::DeadlinePool> Pool() const;

  std::shared_ptr<const ByteSource> inner_;
  DeadlineOptions options_;
  mutable absl::Mutex pool_mu_;
  mutable std::shared_ptr<internal::DeadlinePool> pool_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace kcorefs::io

#endif  // KCOREFS_IO_DEADLINE_SOURCE_H_
