// One connection to an NBD server over libnbd, with many reads in flight.
//
// libnbd's asynchronous API queues a read (nbd_aio_pread) from any thread; a dispatcher
// thread of the connection polls the socket and drives libnbd's state machine, which
// runs each read's completion. Callers wait for their own read until their deadline and
// never hand libnbd their buffer: a read owns its buffer, so a caller that gave up can
// return while the server still answers into it.
//
// A connection dies when libnbd reports the link or the protocol broken (a server that
// sent garbage, closed, or was killed) or when a read stays unanswered longer than
// `request_timeout` (a server that stopped answering). Dying completes every read still
// in flight with a transient error naming the server; the owner (NbdByteSource) then
// makes a new connection.
#ifndef KCOREFS_BACKENDS_NBD_NBD_CONNECTION_H_
#define KCOREFS_BACKENDS_NBD_NBD_CONNECTION_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "kcorefs/base/unique_fd.h"

struct nbd_handle;

namespace kcorefs::backends {

// Where and how to connect.
struct NbdTarget {
  std::string uri;
  std::optional<std::string> tls_psk_file;
  std::optional<std::string> tls_username;
  std::optional<std::string> tls_certificates;
  std::optional<bool> tls_verify;
  absl::Duration request_timeout = absl::Seconds(10);
};

// What the handshake told us about the export.
struct NbdExport {
  uint64_t size = 0;
  bool multi_conn = false;
  std::string description;     // empty when the server gives none
  uint64_t max_request = 32 << 20;  // the largest read to send
};

// One read of [offset, offset + length). Completed exactly once.
//
// Into its own buffer, or into the caller's memory (`external`: no copy, for bulk reads).
// An external read's caller must not return before libnbd is done with it (libnbd_done())
// or the connection is quiesced (NbdConnection::Quiesce): libnbd writes into the memory
// until then.
struct NbdRead {
  NbdRead(uint64_t offset, size_t length, uint8_t* external = nullptr);
  const uint64_t offset;
  const size_t length;
  uint8_t* data() { return external_ != nullptr ? external_ : buffer_.get(); }
  bool external() const { return external_ != nullptr; }
  absl::Time issued;
  // libnbd delivered the result (its completion ran): it touches the memory no more.
  void MarkLibnbdDone() { libnbd_done_.store(true, std::memory_order_release); }
  bool libnbd_done() const { return libnbd_done_.load(std::memory_order_acquire); }
  // The first Complete() wins; later ones (a completion racing the connection's death)
  // are ignored.
  void Complete(absl::Status status);
  // Runs once, in the first Complete(), before waiters wake (set before Submit).
  void set_on_complete(std::function<void()> f) { on_complete_ = std::move(f); }
  bool Wait(absl::Time deadline) { return done_.WaitForNotificationWithDeadline(deadline); }
  const absl::Status& status() const { return status_; }  // after Wait() returned true

 private:
  std::unique_ptr<uint8_t[]> buffer_;
  uint8_t* const external_;
  std::function<void()> on_complete_;
  std::atomic<bool> completed_{false};
  std::atomic<bool> libnbd_done_{false};
  absl::Status status_;
  absl::Notification done_;
};

class NbdConnection {
 public:
  // Connects and completes the NBD (and TLS) handshake by `deadline`, driving it on the
  // caller's thread, then starts the dispatcher. `name` is the server in messages.
  static absl::StatusOr<std::unique_ptr<NbdConnection>> Connect(const NbdTarget& target,
                                                                absl::Time deadline);
  ~NbdConnection();
  NbdConnection(const NbdConnection&) = delete;
  NbdConnection& operator=(const NbdConnection&) = delete;

  const NbdExport& info() const { return info_; }
  // Sends `read`; it completes on the dispatcher (or here, at once, when the connection
  // is dead or libnbd refuses the request).
  void Submit(const std::shared_ptr<NbdRead>& read);
  bool dead() const { return dead_.load(std::memory_order_acquire); }
  // Kills the connection and stops every use of its libnbd handle (the dispatcher is
  // joined, Submit refuses): afterwards libnbd writes into no read's memory. For a
  // caller that must return while an external read of its own is still in flight.
  void Quiesce(const absl::Status& why);
  // The connection's one slot, for a source that keeps one read in flight per connection
  // (NbdByteSource::SetPipelined(false)). Acquire waits until `deadline` (false then);
  // the read sent with it releases it when it completes.
  bool AcquireSlot(absl::Time deadline);
  void ReleaseSlot();
  // Why it died (OK while alive).
  absl::Status dead_reason() const;
  // The process that made the connection: a child after fork() has no dispatcher.
  pid_t pid() const { return pid_; }

 private:
  NbdConnection(const NbdTarget& target, nbd_handle* h);
  void Dispatch();
  // Marks the connection dead and completes every read in flight with `why`.
  void Die(absl::Status why);
  void Wake();
  static int OnComplete(void* user_data, int* error);
  static void OnFree(void* user_data);

  const NbdTarget target_;
  nbd_handle* const h_;
  NbdExport info_;
  const pid_t pid_;
  base::UniqueFd wake_fd_;  // eventfd: a new request, or stop
  std::atomic<bool> dead_{false};
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  absl::Status dead_reason_ ABSL_GUARDED_BY(mu_);
  // Reads sent and not completed, so that dying can complete them and the dispatcher can
  // time out the oldest.
  absl::flat_hash_set<std::shared_ptr<NbdRead>> in_flight_ ABSL_GUARDED_BY(mu_);
  // Held shared by Submit around its libnbd calls and exclusively by Quiesce.
  absl::Mutex issue_mu_;
  bool quiesced_ ABSL_GUARDED_BY(issue_mu_) = false;
  absl::Mutex slot_mu_;
  bool slot_busy_ ABSL_GUARDED_BY(slot_mu_) = false;
  absl::Mutex join_mu_;  // one joiner of the dispatcher
  std::thread dispatcher_;
};

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_NBD_NBD_CONNECTION_H_
