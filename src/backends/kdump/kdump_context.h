// RAII over libkdumpfile's kdump_ctx_t, and a pool of cloned contexts. A context is not
// thread-safe; clones share the open file and libkdumpfile's page cache (kdump_clone), so
// each FUSE thread borrows its own clone for the length of one read.
#ifndef KCOREFS_BACKENDS_KDUMP_KDUMP_CONTEXT_H_
#define KCOREFS_BACKENDS_KDUMP_KDUMP_CONTEXT_H_

#include <libkdumpfile/kdumpfile.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kcorefs/base/unique_fd.h"

namespace kcorefs::backends::kdump {

// Deliberately does not call kdump_free: in libkdumpfile 0.5.1 (Debian 12) kdump_free of a
// context that opened a diskdump file reads and writes memory it has already freed (valgrind
// shows it on a plain open + free; with MALLOC_PERTURB_ it crashes). Contexts live as long
// as the mount or command that opened them, so the process exit returns their memory.
struct CtxDeleter {
  void operator()(kdump_ctx_t*) const {}
};
using KdumpCtx = std::unique_ptr<kdump_ctx_t, CtxDeleter>;

// `what` failed with `status`: libkdumpfile's own message, the file and `what`.
absl::Status KdumpError(kdump_ctx_t* ctx, kdump_status status, const std::string& path,
                        absl::string_view what);

// Contexts for the FUSE threads. Each is opened on its own (kdump_new + kdump_open_fd on an
// fd of its own), not with kdump_clone: clones share libkdumpfile's state, and two threads
// on clones read slower than one (docs/performance.md, "kdump backend"), while independent
// contexts decompress in parallel. Each holds its own page cache and bitmap, so there are at
// most one per CPU; a thread past that waits for one to be returned, within its deadline.
class ContextPool {
 public:
  // Opens `path` with libkdumpfile: the first context, for the attribute reads at open time.
  static absl::StatusOr<std::unique_ptr<ContextPool>> Open(const std::string& path);

  // A context of the calling thread's own until the lease ends.
  class Lease {
   public:
    Lease(ContextPool* pool, kdump_ctx_t* ctx) : pool_(pool), ctx_(ctx) {}
    Lease(Lease&& other) : pool_(other.pool_), ctx_(other.ctx_) { other.ctx_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (ctx_ != nullptr) pool_->Return(ctx_);
    }
    kdump_ctx_t* get() const { return ctx_; }

   private:
    ContextPool* pool_;
    kdump_ctx_t* ctx_;
  };
  absl::StatusOr<Lease> Acquire(absl::Time deadline);

  // The first context, for attribute reads at open time, before any Acquire.
  kdump_ctx_t* main() { return main_; }
  const std::string& path() const { return path_; }

 private:
  ContextPool(std::string path, size_t max) : path_(std::move(path)), max_(max) {}
  // A context on a new fd of the file (the first from `path_`); the fd is kept in fds_.
  absl::StatusOr<kdump_ctx_t*> OpenContext();
  void Return(kdump_ctx_t* ctx);

  const std::string path_;
  const size_t max_;
  kdump_ctx_t* main_ = nullptr;
  absl::Mutex mu_;
  std::vector<base::UniqueFd> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<KdumpCtx> all_ ABSL_GUARDED_BY(mu_);
  std::vector<kdump_ctx_t*> free_ ABSL_GUARDED_BY(mu_);
  size_t opening_ ABSL_GUARDED_BY(mu_) = 0;  // contexts being opened outside the lock
};

}  // namespace kcorefs::backends::kdump

#endif  // KCOREFS_BACKENDS_KDUMP_KDUMP_CONTEXT_H_
