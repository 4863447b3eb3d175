#include "backends/kdump/kdump_context.h"

#include <fcntl.h>

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
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::ErrnoError(errno, absl::StrCat("open ", path));
  KdumpCtx ctx(kdump_new());
  if (!ctx) return absl::ResourceExhaustedError("libkdumpfile: out of memory");
  kdump_status s = kdump_open_fd(ctx.get(), fd.get());
  if (s != KDUMP_OK) return KdumpError(ctx.get(), s, path, "libkdumpfile cannot read it");
  return std::unique_ptr<ContextPool>(new ContextPool(path, std::move(fd), std::move(ctx)));
}

absl::StatusOr<ContextPool::Lease> ContextPool::Acquire() {
  absl::MutexLock lock(&mu_);
  if (!free_.empty()) {
    KdumpCtx ctx = std::move(free_.back());
    free_.pop_back();
    return Lease(this, std::move(ctx));
  }
  KdumpCtx ctx(kdump_clone(main_.get(), 0));
  if (!ctx) return absl::ResourceExhaustedError("libkdumpfile: cannot clone a context");
  return Lease(this, std::move(ctx));
}

void ContextPool::Return(KdumpCtx ctx) {
  absl::MutexLock lock(&mu_);
  free_.push_back(std::move(ctx));
}

}  // namespace kcorefs::backends::kdump
