// NbdByteSource: an NBD export as a ByteSource. Reads are split into requests of at most
// `chunk` bytes, spread over the connections (more than one only when the server offers
// multi-conn) and, when pipelined, all sent before any is waited for, so a batch from the
// block cache is one round trip, not one per block. Not pipelined, each connection
// carries one read at a time (see SetPipelined).
//
// Connections come and go: a dead one (see NbdConnection) is dropped at the next read,
// which makes a new one; while the server stays away, attempts back off from 0.1 s to
// 2 s and a read fails (transient, then EIO at the FUSE edge) instead of waiting past its
// deadline. The first read after the server returns reconnects; nothing else is needed.
#ifndef KCOREFS_BACKENDS_NBD_NBD_SOURCE_H_
#define KCOREFS_BACKENDS_NBD_NBD_SOURCE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "backends/nbd/nbd_connection.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::backends {

struct NbdSourceOptions {
  NbdTarget target;
  absl::Duration connect_timeout = absl::Seconds(10);
  // Connections at most, when the server offers multi-conn (else one).
  int connections = 4;
  // The largest request sent (capped by the server's maximum). Small enough that one
  // 1 MiB FUSE read is four requests in flight, spread over the connections.
  uint64_t chunk = 256 << 10;
  // The largest request while not pipelined: with one read in flight a request is a
  // round trip, so a cache miss with its readahead is one request.
  uint64_t serial_chunk = 2 << 20;
};

struct NbdSourceStats {
  uint64_t connections = 0;  // open now
  uint64_t reconnects = 0;   // connections made after the first was lost
  uint64_t requests = 0;     // NBD reads sent
  uint64_t request_errors = 0;
};

class NbdByteSource final : public io::ByteSource,
                            public std::enable_shared_from_this<NbdByteSource> {
 public:
  // Connects once by `deadline`: a server that is not there fails the open.
  static absl::StatusOr<std::shared_ptr<NbdByteSource>> Open(NbdSourceOptions options,
                                                             absl::Time deadline);
  ~NbdByteSource() override;

  uint64_t size() const override { return first_.size; }
  const std::string& name() const override { return options_.target.uri; }
  uint64_t preferred_read_size() const override { return options_.chunk; }
  // What the first connection's handshake said.
  const NbdExport& first_export() const { return first_; }
  // The export as a connection sees it now (a reconnect may find a new size: /proc/kcore
  // after memory hotplug).
  absl::StatusOr<NbdExport> CurrentExport(absl::Time deadline) const;
  NbdSourceStats stats() const;
  // Pipelined: many reads in flight on each connection. Not pipelined (the state after
  // Open): one read at a time per connection, for servers that must not be asked
  // concurrently on one connection: nbdkit's file plugin on /proc/kcore reads one open
  // file from many threads, and the kernel's per-open-file bounce buffer then mixes up
  // the replies' bytes (io::FileSharing).
  void SetPipelined(bool on) { pipelined_.store(on, std::memory_order_relaxed); }
  bool pipelined() const { return pipelined_.load(std::memory_order_relaxed); }
  // Drops every connection; reads fail from now on.
  void Close();

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const override;
  absl::Status DoReadMany(absl::Span<const io::ReadRequest> requests,
                          absl::Time deadline) const override;

 private:
  NbdByteSource(NbdSourceOptions options, std::shared_ptr<NbdConnection> first);
  // A live connection, making one when there is none (by `deadline`).
  absl::StatusOr<std::shared_ptr<NbdConnection>> Pick(absl::Time deadline) const;
  void DropDeadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Opens the extra connections multi-conn allows, on a thread of its own.
  void StartExtrasLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const NbdSourceOptions options_;
  const NbdExport first_;
  mutable absl::Mutex mu_;
  mutable absl::CondVar changed_;  // a connection attempt ended
  mutable std::vector<std::shared_ptr<NbdConnection>> conns_ ABSL_GUARDED_BY(mu_);
  mutable bool connecting_ ABSL_GUARDED_BY(mu_) = false;
  mutable bool extras_running_ ABSL_GUARDED_BY(mu_) = false;
  mutable bool closed_ ABSL_GUARDED_BY(mu_) = false;
  mutable absl::Time next_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  mutable absl::Duration backoff_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(100);
  mutable absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  mutable size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::atomic<uint64_t> reconnects_{0}, requests_{0}, request_errors_{0};
  std::atomic<bool> pipelined_{false};
};

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_NBD_NBD_SOURCE_H_
