#include "kcorefs/io/deadline_source.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::io {
namespace internal {

// One inner call, run on a worker. The submitter and the worker share it; every field but
// `run` is guarded by the pool's mutex.
struct DeadlineJob {
  enum class State { kQueued, kRunning, kDone };
  std::function<absl::Status()> run;
  State state = State::kQueued;
  bool abandoned = false;  // the submitter gave up waiting
  absl::Status status;
  absl::CondVar done;
};

// Workers and their queue. Shared by the source and every worker thread, so a worker stuck
// in an abandoned read keeps it alive after the source is destroyed.
class DeadlinePool : public std::enable_shared_from_this<DeadlinePool> {
 public:
  DeadlinePool(std::string name, int max_workers)
      : pid_(::getpid()), name_(std::move(name)), max_workers_(max_workers) {}

  pid_t pid() const { return pid_; }
  // Runs `run` on a worker and waits for it until `deadline`. `what` names the call in
  // messages ("read of 4096 bytes at 0x1000"); it is evaluated only on failure.
  absl::Status Run(std::function<absl::Status()> run, absl::Time deadline,
                   absl::FunctionRef<std::string()> what);
  // Stops idle workers and waits (briefly) for them to exit; running ones finish alone.
  void Shutdown();
  int stalled() const {
    absl::MutexLock l(&mu_);
    return stalled_;
  }
  int live() const {
    absl::MutexLock l(&mu_);
    return live_;
  }

 private:
  using Job = DeadlineJob;
  absl::Status SubmitLocked(const std::shared_ptr<Job>& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SpawnLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AbandonLocked(const std::shared_ptr<Job>& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void WorkerLoop(std::shared_ptr<DeadlinePool> self);
  bool HasWorkOrShutdown() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_ || !queue_.empty();
  }
  bool NoIdleWorkers() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return idle_ == 0; }

  const pid_t pid_;
  const std::string name_;
  const int max_workers_;
  mutable absl::Mutex mu_;
  std::deque<std::shared_ptr<Job>> queue_ ABSL_GUARDED_BY(mu_);
  int live_ ABSL_GUARDED_BY(mu_) = 0;     // threads started and not yet exited
  int idle_ ABSL_GUARDED_BY(mu_) = 0;     // of those, waiting for a job
  int stalled_ ABSL_GUARDED_BY(mu_) = 0;  // running a job whose submitter gave up
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

absl::Status DeadlinePool::Run(std::function<absl::Status()> run, absl::Time deadline,
                               absl::FunctionRef<std::string()> what) {
  auto job = std::make_shared<Job>();
  job->run = std::move(run);
  const absl::Time start = absl::Now();
  absl::MutexLock l(&mu_);
  KCOREFS_RETURN_IF_ERROR(SubmitLocked(job));
  while (job->state != Job::State::kDone) {
    const bool timed_out = job->done.WaitWithDeadline(&mu_, deadline);
    if (timed_out && job->state != Job::State::kDone) {
      const bool started = job->state == Job::State::kRunning;
      AbandonLocked(job);
      return base::DeadlineError(absl::StrCat(
          what(), " from ", name_, ": no reply after ", absl::FormatDuration(absl::Now() - start),
          started ? " (the read is abandoned; it goes on in the background)"
                  : " (every worker was busy; the read never started)"));
    }
  }
  return job->status;
}

absl::Status DeadlinePool::SubmitLocked(const std::shared_ptr<Job>& job) {
  // Every worker is stuck in a read nobody waits for: queueing would only make this
  // caller wait out its whole deadline too. Fail now; the kind lets a retry layer back off.
  if (stalled_ >= max_workers_) {
    return base::TransientError(absl::StrCat(stalled_, " reads to ", name_,
                                             " are stalled; failing new reads at once until one"
                                             " of them returns"));
  }
  queue_.push_back(job);
  if (static_cast<size_t>(idle_) >= queue_.size() || live_ >= max_workers_) {
    return absl::OkStatus();
  }
  absl::Status spawned = SpawnLocked();
  // With a worker already running the job will still be picked up; with none it would
  // wait forever.
  if (!spawned.ok() && live_ == 0) {
    queue_.pop_back();
    return spawned;
  }
  return absl::OkStatus();
}

absl::Status DeadlinePool::SpawnLocked() {
  // Workers block every signal: the daemon's handlers (SIGINT, SIGTERM unmount) must run
  // on a thread libfuse watches, not on one stuck in a remote read.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  absl::Status status;
  try {
    std::thread(&DeadlinePool::WorkerLoop, shared_from_this()).detach();
    ++live_;
    ++idle_;
  } catch (const std::system_error& e) {
    status = base::TransientError(
        absl::StrCat("cannot start a worker thread for ", name_, ": ", e.what()));
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return status;
}

void DeadlinePool::AbandonLocked(const std::shared_ptr<Job>& job) {
  if (job->state == Job::State::kQueued) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), job));
    return;
  }
  job->abandoned = true;
  ++stalled_;
}

void DeadlinePool::WorkerLoop(std::shared_ptr<DeadlinePool> self) {
  DeadlinePool& p = *self;
  p.mu_.Lock();
  while (true) {
    p.mu_.Await(absl::Condition(&p, &DeadlinePool::HasWorkOrShutdown));
    if (p.queue_.empty()) break;  // shut down and nothing left to do
    std::shared_ptr<Job> job = std::move(p.queue_.front());
    p.queue_.pop_front();
    job->state = Job::State::kRunning;
    --p.idle_;
    std::function<absl::Status()> run = std::move(job->run);
    p.mu_.Unlock();
    absl::Status status = run();
    // Drop what the call captured (the inner source, its buffer) outside the lock: the
    // last reference may close a connection.
    run = nullptr;
    p.mu_.Lock();
    job->status = std::move(status);
    job->state = Job::State::kDone;
    if (job->abandoned) --p.stalled_;
    ++p.idle_;
    job->done.Signal();
  }
  --p.idle_;
  --p.live_;
  p.mu_.Unlock();
}

void DeadlinePool::Shutdown() {
  absl::MutexLock l(&mu_);
  shutdown_ = true;
  // Idle workers wake and exit at once; a stuck one is not waited for (that is the point).
  mu_.AwaitWithTimeout(absl::Condition(this, &DeadlinePool::NoIdleWorkers), absl::Seconds(1));
}

}  // namespace internal

namespace {

// A pool from before a fork is never touched again in the child: its mutex may have been
// held by a thread that the fork did not copy. It is leaked on purpose (one small object).
void LeakForkedPool(std::shared_ptr<internal::DeadlinePool> pool) {
  static_cast<void>(new std::shared_ptr<internal::DeadlinePool>(std::move(pool)));
}

std::string DescribeRead(uint64_t offset, uint64_t length) {
  return absl::StrCat("read of ", length, " bytes at ", base::Hex(offset));
}

}  // namespace

absl::StatusOr<std::shared_ptr<DeadlineByteSource>> DeadlineByteSource::Create(
    std::shared_ptr<const ByteSource> inner, DeadlineOptions options) {
  if (inner == nullptr) return absl::InvalidArgumentError("DeadlineByteSource: no inner source");
  if (options.max_workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(inner->name(), ": the deadline pool needs at least one worker"));
  }
  if (options.default_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(inner->name(), ": the default read timeout must be positive"));
  }
  return std::shared_ptr<DeadlineByteSource>(new DeadlineByteSource(std::move(inner), options));
}

DeadlineByteSource::~DeadlineByteSource() {
  absl::MutexLock l(&pool_mu_);
  if (pool_ == nullptr) return;
  if (pool_->pid() != ::getpid()) {
    LeakForkedPool(std::move(pool_));
    return;
  }
  pool_->Shutdown();
}

std::shared_ptr<internal::DeadlinePool> DeadlineByteSource::Pool() const {
  absl::MutexLock l(&pool_mu_);
  if (pool_ != nullptr && pool_->pid() != ::getpid()) LeakForkedPool(std::move(pool_));
  if (pool_ == nullptr) {
    pool_ = std::make_shared<internal::DeadlinePool>(inner_->name(), options_.max_workers);
  }
  return pool_;
}

absl::Time DeadlineByteSource::Effective(absl::Time deadline) const {
  if (deadline != NoDeadline()) return deadline;
  return options_.default_timeout == absl::InfiniteDuration()
             ? NoDeadline()
             : absl::Now() + options_.default_timeout;
}

int DeadlineByteSource::stalled_reads() const {
  absl::MutexLock l(&pool_mu_);
  return pool_ == nullptr || pool_->pid() != ::getpid() ? 0 : pool_->stalled();
}

int DeadlineByteSource::workers() const {
  absl::MutexLock l(&pool_mu_);
  return pool_ == nullptr || pool_->pid() != ::getpid() ? 0 : pool_->live();
}

absl::Status DeadlineByteSource::DoRead(uint64_t offset, absl::Span<uint8_t> out,
                                        absl::Time deadline) const {
  const uint64_t n = out.size();
  if (!base::CheckedAdd(offset, n)) {
    return absl::OutOfRangeError(absl::StrCat(name(), ": read of ", n, " bytes at ",
                                              base::Hex(offset), " wraps"));
  }
  const absl::Time d = Effective(deadline);
  if (absl::Now() >= d) {
    return base::DeadlineError(absl::StrCat(DescribeRead(offset, n), " from ", name(),
                                            ": the deadline passed before the read started"));
  }
  // The worker's own buffer: this frame may be gone when a stuck read finally returns.
  std::shared_ptr<uint8_t[]> buf(new uint8_t[n]);
  auto run = [inner = inner_, buf, offset, n, d] {
    return inner->ReadAt(offset, absl::MakeSpan(buf.get(), n), d);
  };
  KCOREFS_RETURN_IF_ERROR(Pool()->Run(run, d, [&] { return DescribeRead(offset, n); }));
  if (n > 0) std::memcpy(out.data(), buf.get(), n);
  CountRead(n);
  return absl::OkStatus();
}

absl::Status DeadlineByteSource::DoReadMany(absl::Span<const ReadRequest> requests,
                                            absl::Time deadline) const {
  if (requests.empty()) return absl::OkStatus();
  uint64_t total = 0;
  for (const ReadRequest& r : requests) {
    auto sum = base::CheckedAdd(total, r.out.size());
    if (!sum || !base::CheckedAdd(r.offset, r.out.size())) {
      return absl::OutOfRangeError(absl::StrCat(name(), ": batched read at ", base::Hex(r.offset),
                                                " wraps"));
    }
    total = *sum;
  }
  const absl::Time d = Effective(deadline);
  auto what = [&] {
    return absl::StrCat("batched read of ", requests.size(), " ranges (", total, " bytes from ",
                        base::Hex(requests.front().offset), ")");
  };
  if (absl::Now() >= d) {
    return base::DeadlineError(
        absl::StrCat(what(), " from ", name(), ": the deadline passed before the read started"));
  }
  std::shared_ptr<uint8_t[]> buf(new uint8_t[total]);
  std::vector<ReadRequest> mine;
  mine.reserve(requests.size());
  uint64_t at = 0;
  for (const ReadRequest& r : requests) {
    mine.push_back({r.offset, absl::MakeSpan(buf.get() + at, r.out.size())});
    at += r.out.size();
  }
  auto run = [inner = inner_, buf, mine = std::move(mine), d] { return inner->ReadMany(mine, d); };
  KCOREFS_RETURN_IF_ERROR(Pool()->Run(std::move(run), d, what));
  at = 0;
  for (const ReadRequest& r : requests) {
    if (!r.out.empty()) std::memcpy(r.out.data(), buf.get() + at, r.out.size());
    at += r.out.size();
  }
  CountRead(total);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SourceExtent>> DeadlineByteSource::Extents(uint64_t offset,
                                                                      uint64_t length) const {
  const absl::Time d = Effective(NoDeadline());
  auto result = std::make_shared<absl::StatusOr<std::vector<SourceExtent>>>();
  auto run = [inner = inner_, result, offset, length] {
    *result = inner->Extents(offset, length);
    return result->status();
  };
  KCOREFS_RETURN_IF_ERROR(Pool()->Run(run, d, [&] {
    return absl::StrCat("extents of ", length, " bytes at ", base::Hex(offset));
  }));
  return std::move(*result);
}

}  // namespace kcorefs::io
