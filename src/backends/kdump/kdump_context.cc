#include "backends/kdump/kdump_context.h"

#include <fcntl.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"

namespace kcorefs::backends::kdump {

absl::Status KdumpError(kdump_ctx_t* ctx, kdump_status status, const std::string& path,
                        absl::string_view what) {
  const char* detail = ctx != nullptr ? kdump_get_err(ctx) : nullptr;
  std::string msg = absl::StrCat(path, ": ", what, ": ",
                                 detail != nullptr ? detail : kdump_strerror(status));
  switch (status) {
    case KDUMP_ERR_SYSTEM:
      return base::ErrnoError(errno, msg);
    case KDUMP_ERR_NODATA:
      return absl::NotFoundError(msg);
    case KDUMP_ERR_NOTIMPL:
      return absl::UnimplementedError(msg);
    default:
      return absl::DataLossError(msg);
  }
}

absl::StatusOr<std::unique_ptr<ContextPool>> ContextPool::Open(const std::string& path) {
  size_t cpus = std::max(1u, std::thread::hardware_concurrency());
  std::unique_ptr<ContextPool> pool(new ContextPool(path, cpus));
  auto ctx = pool->OpenContext();
  if (!ctx.ok()) return ctx.status();
  pool->main_ = *ctx;
  pool->Return(*ctx);
  return pool;
}

absl::StatusOr<kdump_ctx_t*> ContextPool::OpenContext() {
  // Later contexts open the first one's file again through /proc/self/fd: the same file
  // even after a rename or the daemon's chdir("/") (path_ may be relative).
  std::string from = path_;
  {
    absl::MutexLock lock(&mu_);
    if (!fds_.empty()) from = absl::StrCat("/proc/self/fd/", fds_.front().get());
  }
  base::UniqueFd fd(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::ErrnoError(errno, absl::StrCat("open ", path_, " (", from, ")"));
  KdumpCtx ctx(kdump_new());
  if (!ctx) return absl::ResourceExhaustedError("libkdumpfile: out of memory");
  kdump_status s = kdump_open_fd(ctx.get(), fd.get());
  if (s != KDUMP_OK) return KdumpError(ctx.get(), s, path_, "libkdumpfile cannot read it");
  absl::MutexLock lock(&mu_);
  fds_.push_back(std::move(fd));
  all_.push_back(std::move(ctx));
  return all_.back().get();
}

absl::StatusOr<ContextPool::Lease> ContextPool::Acquire(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !free_.empty() || all_.size() + opening_ < max_;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) {
      return base::DeadlineError(absl::StrCat(
          path_, ": every libkdumpfile context stayed busy until the read's deadline"));
    }
    if (!free_.empty()) {
      kdump_ctx_t* ctx = free_.back();
      free_.pop_back();
      return Lease(this, ctx);
    }
    ++opening_;
  }
  auto ctx = OpenContext();  // outside the lock: it reads the file's headers
  absl::MutexLock lock(&mu_);
  --opening_;
  if (!ctx.ok()) return ctx.status();
  return Lease(this, *ctx);
}

void ContextPool::Return(kdump_ctx_t* ctx) {
  absl::MutexLock lock(&mu_);
  free_.push_back(ctx);
}

}  // namespace kcorefs::backends::kdump
