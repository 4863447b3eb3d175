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

class ContextPool {
 public:
  // Opens `path` with libkdumpfile. The fd lives as long as the pool.
  static absl::StatusOr<std::unique_ptr<ContextPool>> Open(const std::string& path);

  // A borrowed clone, returned to the pool when the lease ends.
  class Lease {
   public:
    Lease(ContextPool* pool, KdumpCtx ctx) : pool_(pool), ctx_(std::move(ctx)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (ctx_) pool_->Return(std::move(ctx_));
    }
    kdump_ctx_t* get() const { return ctx_.get(); }

   private:
    ContextPool* pool_;
    KdumpCtx ctx_;
  };
  absl::StatusOr<Lease> Acquire();

  // The context that opened the file, for attribute reads at open time (one thread).
  kdump_ctx_t* main() { return main_.get(); }
  const std::string& path() const { return path_; }

 private:
  ContextPool(std::string path, base::UniqueFd fd, KdumpCtx main)
      : path_(std::move(path)), fd_(std::move(fd)), main_(std::move(main)) {}
  void Return(KdumpCtx ctx);

  std::string path_;
  base::UniqueFd fd_;
  absl::Mutex mu_;
  KdumpCtx main_;  // read at open time only; cloned under mu_
  std::vector<KdumpCtx> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcorefs::backends::kdump

#endif  // KCOREFS_BACKENDS_KDUMP_KDUMP_CONTEXT_H_
