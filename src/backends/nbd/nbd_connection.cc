#include "backends/nbd/nbd_connection.h"

#include <libnbd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"

namespace kcorefs::backends {
namespace {

using base::Hex;

// The dispatcher looks at the oldest read this often, and wakes at least this often.
constexpr absl::Duration kTick = absl::Milliseconds(100);

std::string LastNbdError() {
  const char* e = nbd_get_error();
  // libnbd leaves no message when the peer simply closed.
  return e != nullptr && *e != '\0' ? e : "the server closed the connection";
}

// A handle until Connect hands it over.
struct HandleCloser {
  void operator()(nbd_handle* h) const { nbd_close(h); }
};
using HandlePtr = std::unique_ptr<nbd_handle, HandleCloser>;

// What the server told us is wrong with one read: the link (transient: another
// connection may succeed) or the request itself (permanent).
absl::Status ReadError(const std::string& uri, const NbdRead& r, int err) {
  std::string what = absl::StrCat(uri, ": read of ", r.length, " bytes at offset ", Hex(r.offset),
                                  " failed: ", std::strerror(err));
  switch (err) {
    case EINVAL: case ERANGE: case EOVERFLOW: case ENOTSUP: case EPERM: case EACCES:
      return base::WithKind(absl::FailedPreconditionError(what), base::ErrorKind::kPermanent);
    default:
      return base::TransientError(what);
  }
}

// One poll of the handle's socket for what libnbd waits for, then the notification.
// Returns false with `error` set when libnbd reports the connection broken.
bool PollOnce(nbd_handle* h, int extra_fd, absl::Duration wait, std::string& error) {
  const int fd = nbd_aio_get_fd(h);
  if (fd < 0) {
    error = LastNbdError();
    return false;
  }
  const unsigned dir = nbd_aio_get_direction(h);
  pollfd fds[2] = {{fd, 0, 0}, {extra_fd, POLLIN, 0}};
  if (dir & LIBNBD_AIO_DIRECTION_READ) fds[0].events |= POLLIN;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE) fds[0].events |= POLLOUT;
  int ms = static_cast<int>(absl::ToInt64Milliseconds(wait));
  if (ms < 1) ms = 1;
  int n = ::poll(fds, extra_fd >= 0 ? 2 : 1, ms);
  if (n < 0 && errno != EINTR) {
    error = absl::StrCat("poll: ", std::strerror(errno));
    return false;
  }
  if (n <= 0) return true;
  if (fds[1].revents & POLLIN) {
    uint64_t v;
    [[maybe_unused]] ssize_t r = ::read(extra_fd, &v, sizeof(v));
  }
  const short got = fds[0].revents;
  if ((got & (POLLIN | POLLHUP | POLLERR)) && (dir & LIBNBD_AIO_DIRECTION_READ)) {
    if (nbd_aio_notify_read(h) == -1) {
      error = LastNbdError();
      return false;
    }
  } else if ((got & (POLLHUP | POLLERR)) && !(dir & LIBNBD_AIO_DIRECTION_WRITE)) {
    error = "the server closed the connection";
    return false;
  }
  if ((got & (POLLOUT | POLLERR)) && (dir & LIBNBD_AIO_DIRECTION_WRITE)) {
    if (nbd_aio_notify_write(h) == -1) {
      error = LastNbdError();
      return false;
    }
  }
  return true;
}

absl::Status ConfigureHandle(nbd_handle* h, const NbdTarget& t) {
  auto check = [&](int rc, absl::string_view what) -> absl::Status {
    if (rc == -1) return absl::InvalidArgumentError(absl::StrCat(t.uri, ": ", what, ": ", LastNbdError()));
    return absl::OkStatus();
  };
  // The user wrote the URI: its tls-psk-file= and socket= paths are theirs to name.
  if (auto s = check(nbd_set_uri_allow_local_file(h, true), "URI files"); !s.ok()) return s;
  // The export description tells a kcorefs agent's live export from an immutable one.
  if (auto s = check(nbd_set_full_info(h, true), "full info"); !s.ok()) return s;
  // Buffers are ours and used only after a successful read.
  if (auto s = check(nbd_set_pread_initialize(h, false), "pread initialize"); !s.ok()) return s;
  if (t.tls_psk_file) {
    if (auto s = check(nbd_set_tls_psk_file(h, t.tls_psk_file->c_str()), "tls_psk_file"); !s.ok()) return s;
  }
  if (t.tls_username) {
    if (auto s = check(nbd_set_tls_username(h, t.tls_username->c_str()), "tls_username"); !s.ok()) return s;
  }
  if (t.tls_certificates) {
    if (auto s = check(nbd_set_tls_certificates(h, t.tls_certificates->c_str()), "tls_certificates"); !s.ok()) return s;
  }
  if (t.tls_verify) {
    if (auto s = check(nbd_set_tls_verify_peer(h, *t.tls_verify), "tls_verify"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

NbdRead::NbdRead(uint64_t offset, size_t length, uint8_t* external)
    : offset(offset), length(length),
      buffer_(external == nullptr ? new uint8_t[length] : nullptr), external_(external) {}

void NbdRead::Complete(absl::Status status) {
  if (completed_.exchange(true, std::memory_order_acq_rel)) return;
  status_ = std::move(status);
  if (on_complete_) std::exchange(on_complete_, nullptr)();
  done_.Notify();
}

bool NbdConnection::AcquireSlot(absl::Time deadline) {
  auto free = [](bool* busy) { return !*busy; };
  if (!slot_mu_.LockWhenWithDeadline(absl::Condition(+free, &slot_busy_), deadline)) {
    slot_mu_.Unlock();
    return false;
  }
  slot_busy_ = true;
  slot_mu_.Unlock();
  return true;
}

void NbdConnection::ReleaseSlot() {
  absl::MutexLock lock(&slot_mu_);
  slot_busy_ = false;
}

absl::StatusOr<std::unique_ptr<NbdConnection>> NbdConnection::Connect(const NbdTarget& target,
                                                                      absl::Time deadline) {
  HandlePtr h(nbd_create());
  if (h == nullptr) return absl::ResourceExhaustedError(absl::StrCat("libnbd: ", LastNbdError()));
  if (absl::Status s = ConfigureHandle(h.get(), target); !s.ok()) return s;
  const bool tls = absl::StartsWith(target.uri, "nbds");
  auto failed = [&](const std::string& why) {
    std::string hint =
        tls ? "; check the TLS settings: the PSK file (tls-psk-file) must hold the server's key "
              "for the user name (tls-username, default your login)"
        : absl::StrContains(why, "TLS") || absl::StrContains(why, "tls")
            ? "; the server requires TLS: use an nbds:// URI with its key (?tls-psk-file=FILE)"
            : "; check that the server is running and the URI is right";
    return base::TransientError(absl::StrCat("cannot connect to ", target.uri, ": ", why, hint));
  };
  if (nbd_aio_connect_uri(h.get(), target.uri.c_str()) == -1) return failed(LastNbdError());
  while (nbd_aio_is_ready(h.get()) != 1) {
    if (nbd_aio_is_dead(h.get()) == 1 || nbd_aio_is_closed(h.get()) == 1) {
      return failed(LastNbdError());
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return base::DeadlineError(absl::StrCat(
          "cannot connect to ", target.uri, ": no NBD handshake by the deadline (is the server "
          "busy serving another client? a virtio-serial port carries one connection at a time)"));
    }
    std::string error;
    if (!PollOnce(h.get(), -1, std::min(left, absl::Seconds(1)), error)) return failed(error);
  }
  auto conn = std::unique_ptr<NbdConnection>(new NbdConnection(target, h.release()));
  return conn;
}

NbdConnection::NbdConnection(const NbdTarget& target, nbd_handle* h)
    : target_(target), h_(h), pid_(::getpid()), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  int64_t size = nbd_get_size(h_);
  info_.size = size > 0 ? static_cast<uint64_t>(size) : 0;
  info_.multi_conn = nbd_can_multi_conn(h_) == 1;
  if (char* d = nbd_get_export_description(h_); d != nullptr) {
    info_.description = d;
    free(d);
  }
  int64_t max = nbd_get_block_size(h_, LIBNBD_SIZE_MAXIMUM);
  if (max > 0 && static_cast<uint64_t>(max) < info_.max_request) info_.max_request = max;
  if (info_.max_request < 4096) info_.max_request = 4096;
  dispatcher_ = std::thread([this] { Dispatch(); });
}

NbdConnection::~NbdConnection() {
  Quiesce(base::TransientError(absl::StrCat(target_.uri, ": connection closed")));
  nbd_close(h_);  // frees the closures of reads still queued (their buffers go with them)
}

void NbdConnection::Quiesce(const absl::Status& why) {
  Die(why);
  {
    absl::WriterMutexLock lock(&issue_mu_);
    quiesced_ = true;
  }
  stop_.store(true, std::memory_order_release);
  Wake();
  absl::MutexLock lock(&join_mu_);
  if (dispatcher_.joinable()) {
    // After fork() the thread belongs to the parent: there is nothing here to join. On
    // the dispatcher itself, it returns once this call does.
    if (::getpid() == pid_ && dispatcher_.get_id() != std::this_thread::get_id()) {
      dispatcher_.join();
    } else {
      dispatcher_.detach();
    }
  }
}

absl::Status NbdConnection::dead_reason() const {
  absl::MutexLock lock(&mu_);
  return dead_reason_;
}

void NbdConnection::Wake() {
  uint64_t one = 1;
  if (wake_fd_.get() >= 0) [[maybe_unused]] ssize_t r = ::write(wake_fd_.get(), &one, sizeof(one));
}

namespace {
struct Closure {
  std::shared_ptr<NbdRead> read;
  NbdConnection* conn;
};
}  // namespace

void NbdConnection::Submit(const std::shared_ptr<NbdRead>& read) {
  absl::Status dead_why;
  {
    absl::MutexLock lock(&mu_);
    if (dead_.load(std::memory_order_relaxed)) {
      dead_why = dead_reason_;
    } else {
      read->issued = absl::Now();
      in_flight_.insert(read);
    }
  }
  if (!dead_why.ok()) {
    read->MarkLibnbdDone();  // never queued
    read->Complete(std::move(dead_why));
    return;
  }
  nbd_completion_callback cb{.callback = &NbdConnection::OnComplete,
                             .user_data = new Closure{read, this},
                             .free = &NbdConnection::OnFree};
  // libnbd frees the closure (OnFree) whether or not the read could be queued.
  int64_t cookie;
  std::string why;
  int err = 0;
  {
    absl::ReaderMutexLock lock(&issue_mu_);
    if (quiesced_) {
      cookie = -1;
      why = "connection closed";
      err = ENOTCONN;
      OnFree(cb.user_data);
    } else {
      cookie = nbd_aio_pread(h_, read->data(), read->length, read->offset, cb, 0);
      if (cookie == -1) {
        why = LastNbdError();
        err = nbd_get_errno();
      }
    }
  }
  if (cookie == -1) {
    read->MarkLibnbdDone();  // never queued
    {
      absl::MutexLock lock(&mu_);
      in_flight_.erase(read);
    }
    absl::Status status = base::TransientError(
        absl::StrCat(target_.uri, ": cannot send a read of ", read->length, " bytes at offset ",
                     Hex(read->offset), ": ", why));
    read->Complete(status);
    // Anything but a bad request means the connection cannot carry reads any more.
    if (err != EINVAL && err != ERANGE && err != EOVERFLOW) Die(status);
    return;
  }
  Wake();
}

int NbdConnection::OnComplete(void* user_data, int* error) {
  auto* c = static_cast<Closure*>(user_data);
  c->read->MarkLibnbdDone();
  absl::Status status = *error == 0 ? absl::OkStatus() : ReadError(c->conn->target_.uri, *c->read, *error);
  if (*error == ENOTCONN) {
    // libnbd retires the reads of a broken connection with ENOTCONN, on the thread that
    // found it broken, right after setting that thread's error: say why it broke.
    absl::Status why = c->conn->dead_reason();
    const char* e = nbd_get_error();
    std::string reason = !why.ok() ? std::string(why.message()) : e != nullptr && *e ? e : "";
    if (!reason.empty()) {
      status = base::TransientError(absl::StrCat(c->conn->target_.uri, ": read of ", c->read->length,
                                                 " bytes at offset ", Hex(c->read->offset),
                                                 " failed: connection lost: ", reason));
    }
  }
  {
    absl::MutexLock lock(&c->conn->mu_);
    c->conn->in_flight_.erase(c->read);
  }
  // A server shutting down answers ESHUTDOWN to every read while it still holds the
  // socket (nbdkit after SIGTERM): the connection is finished, another may work.
  const bool finished = *error == ESHUTDOWN || *error == ENOTCONN || *error == ECONNRESET || *error == EPIPE;
  if (finished) {
    base::LogWarning(absl::StrCat(status.message(), "; dropping the connection"));
    c->conn->Die(status);
  }
  c->read->Complete(std::move(status));
  return 1;  // retire the command: its result is delivered
}

void NbdConnection::OnFree(void* user_data) { delete static_cast<Closure*>(user_data); }

void NbdConnection::Die(absl::Status why) {
  std::vector<std::shared_ptr<NbdRead>> reads;
  {
    absl::MutexLock lock(&mu_);
    if (!dead_.load(std::memory_order_relaxed)) {
      dead_reason_ = why;
      dead_.store(true, std::memory_order_release);
    }
    reads.assign(in_flight_.begin(), in_flight_.end());
    in_flight_.clear();
  }
  for (const auto& r : reads) r->Complete(why);
}

void NbdConnection::Dispatch() {
  // Signals are for the FUSE threads.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  absl::Time next_check = absl::Now() + kTick;
  while (!stop_.load(std::memory_order_acquire)) {
    std::string error;
    if (!PollOnce(h_, wake_fd_.get(), kTick, error)) {
      if (stop_.load(std::memory_order_acquire)) return;
      base::LogWarning(absl::StrCat(target_.uri, ": connection lost: ", error));
      Die(base::TransientError(absl::StrCat(target_.uri, ": connection lost: ", error)));
      return;
    }
    if (nbd_aio_is_dead(h_) == 1 || nbd_aio_is_closed(h_) == 1) {
      if (stop_.load(std::memory_order_acquire)) return;
      std::string why = absl::StrCat(target_.uri, ": connection lost: ", LastNbdError());
      base::LogWarning(why);
      Die(base::TransientError(why));
      return;
    }
    absl::Time now = absl::Now();
    if (now < next_check) continue;
    next_check = now + kTick;
    // A read unanswered for request_timeout: the server stopped answering (a paused
    // guest, a hung agent, a dead link TCP has not noticed yet).
    std::shared_ptr<NbdRead> oldest;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& r : in_flight_) {
        if (oldest == nullptr || r->issued < oldest->issued) oldest = r;
      }
    }
    if (oldest != nullptr && now - oldest->issued > target_.request_timeout) {
      std::string why = absl::StrCat(target_.uri, ": no reply within ",
                                     absl::FormatDuration(target_.request_timeout),
                                     " to a read at offset ", Hex(oldest->offset),
                                     "; dropping the connection");
      base::LogWarning(why);
      Die(base::TransientError(why));
      return;
    }
  }
}

}  // namespace kcorefs::backends
