#include "backends/nbd/nbd_source.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"

namespace kcorefs::backends {

using base::Hex;

absl::StatusOr<std::shared_ptr<NbdByteSource>> NbdByteSource::Open(NbdSourceOptions options,
                                                                    absl::Time deadline) {
  auto conn = NbdConnection::Connect(options.target, deadline);
  if (!conn.ok()) return conn.status();
  options.chunk = std::max<uint64_t>(4096, std::min(options.chunk, (*conn)->info().max_request));
  options.serial_chunk =
      std::max<uint64_t>(options.chunk, std::min(options.serial_chunk, (*conn)->info().max_request));
  return std::shared_ptr<NbdByteSource>(new NbdByteSource(std::move(options), std::move(*conn)));
}

NbdByteSource::NbdByteSource(NbdSourceOptions options, std::shared_ptr<NbdConnection> first)
    : options_(std::move(options)), first_(first->info()) {
  absl::MutexLock lock(&mu_);
  conns_.push_back(std::move(first));
}

NbdByteSource::~NbdByteSource() { Close(); }

void NbdByteSource::Close() {
  std::vector<std::shared_ptr<NbdConnection>> old;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    old.swap(conns_);
    changed_.SignalAll();
  }
  // Destroyed here, outside the lock: each joins its dispatcher.
}

NbdSourceStats NbdByteSource::stats() const {
  NbdSourceStats s;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& c : conns_) s.connections += c->dead() ? 0 : 1;
  }
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  s.requests = requests_.load(std::memory_order_relaxed);
  s.request_errors = request_errors_.load(std::memory_order_relaxed);
  return s;
}

void NbdByteSource::DropDeadLocked() const {
  const pid_t pid = ::getpid();
  auto gone = [pid](const std::shared_ptr<NbdConnection>& c) { return c->dead() || c->pid() != pid; };
  // The last reference may be a reader's; the connection is destroyed when it lets go.
  conns_.erase(std::remove_if(conns_.begin(), conns_.end(), gone), conns_.end());
}

void NbdByteSource::StartExtrasLocked() const {
  if (extras_running_ || closed_ || conns_.empty() || !conns_.front()->info().multi_conn ||
      conns_.size() >= static_cast<size_t>(options_.connections)) {
    return;
  }
  extras_running_ = true;
  std::weak_ptr<const NbdByteSource> weak = shared_from_this();
  const size_t want = options_.connections;
  std::thread([weak, want] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    while (auto self = weak.lock()) {
      {
        absl::MutexLock lock(&self->mu_);
        self->DropDeadLocked();
        if (self->closed_ || self->conns_.empty() || self->conns_.size() >= want) {
          self->extras_running_ = false;
          return;
        }
      }
      auto conn = NbdConnection::Connect(self->options_.target,
                                         absl::Now() + self->options_.connect_timeout);
      absl::MutexLock lock(&self->mu_);
      if (!conn.ok() || self->closed_) {
        // One connection serves every read; extras are an optimisation.
        if (!conn.ok()) base::LogDebug(absl::StrCat("extra connection: ", conn.status().message()));
        self->extras_running_ = false;
        return;
      }
      self->conns_.push_back(std::move(*conn));
    }
  }).detach();
}

absl::StatusOr<std::shared_ptr<NbdConnection>> NbdByteSource::Pick(absl::Time deadline) const {
  const std::string& uri = options_.target.uri;
  absl::MutexLock lock(&mu_);
  // A read takes part in one connection attempt at most (its own, or one another reader
  // had under way) and then fails with that attempt's error: while the server is away,
  // reads fail within a few backoff steps instead of using up their deadline.
  bool attempted = false;
  while (true) {
    DropDeadLocked();
    if (closed_) return base::TransientError(absl::StrCat(uri, ": closed"));
    if (!conns_.empty()) return conns_[next_++ % conns_.size()];
    absl::Time now = absl::Now();
    if (attempted) return last_error_;
    if (now >= deadline) {
      return base::DeadlineError(absl::StrCat(uri, ": not connected by the read's deadline (last error: ",
                                              last_error_.message(), ")"));
    }
    if (connecting_) {
      changed_.WaitWithDeadline(&mu_, deadline);
      attempted = !connecting_;
      continue;
    }
    if (now < next_attempt_) {
      // The last attempt failed moments ago: the next is due at next_attempt_.
      if (next_attempt_ > deadline) return last_error_;
      changed_.WaitWithDeadline(&mu_, next_attempt_);
      continue;
    }
    connecting_ = true;
    mu_.Unlock();
    auto conn = NbdConnection::Connect(options_.target, std::min(deadline, now + options_.connect_timeout));
    mu_.Lock();
    connecting_ = false;
    changed_.SignalAll();
    if (!conn.ok()) {
      last_error_ = conn.status();
      next_attempt_ = absl::Now() + backoff_;
      backoff_ = std::min(backoff_ * 2, absl::Seconds(2));
      attempted = true;
      continue;
    }
    reconnects_.fetch_add(1, std::memory_order_relaxed);
    base::LogInfo(absl::StrCat("reconnected to ", uri));
    backoff_ = absl::Milliseconds(100);
    last_error_ = absl::OkStatus();
    std::shared_ptr<NbdConnection> c = std::move(*conn);
    if (closed_) return base::TransientError(absl::StrCat(uri, ": closed"));
    conns_.push_back(c);
    StartExtrasLocked();
    return c;
  }
}

absl::StatusOr<NbdExport> NbdByteSource::CurrentExport(absl::Time deadline) const {
  auto c = Pick(deadline);
  if (!c.ok()) return c.status();
  return (*c)->info();
}

absl::Status NbdByteSource::DoRead(uint64_t offset, absl::Span<uint8_t> out,
                                   absl::Time deadline) const {
  io::ReadRequest r{offset, out};
  return DoReadMany(absl::MakeConstSpan(&r, 1), deadline);
}

absl::Status NbdByteSource::DoReadMany(absl::Span<const io::ReadRequest> requests,
                                       absl::Time deadline) const {
  const std::string& uri = options_.target.uri;
  const bool pipelined = this->pipelined();
  const uint64_t chunk = pipelined ? options_.chunk : options_.serial_chunk;
  {
    // Started here rather than at open: the first read happens in the process that serves.
    absl::MutexLock lock(&mu_);
    StartExtrasLocked();
  }
  // One NBD request per run of adjacent ranges (the blocks of one cache miss are adjacent:
  // a 1 MiB miss is one request, not sixteen), split at `chunk`.
  struct Piece {
    uint8_t* out;
    size_t length;
  };
  struct Part {
    std::shared_ptr<NbdRead> read;
    std::vector<Piece> pieces;
    std::shared_ptr<NbdConnection> conn;  // set once sent
  };
  std::vector<Part> parts;
  struct Run {
    uint64_t offset = 0, length = 0;
    std::vector<Piece> pieces;
  } run;
  auto flush = [&] {
    if (run.length > 0) {
      // A run that is one caller range is read into the caller's memory, not copied.
      uint8_t* direct = run.pieces.size() == 1 ? run.pieces[0].out : nullptr;
      parts.push_back({std::make_shared<NbdRead>(run.offset, run.length, direct),
                       std::move(run.pieces), nullptr});
    }
    run = Run();
  };
  for (const io::ReadRequest& r : requests) {
    if (!base::CheckedAdd(r.offset, r.out.size())) {
      return absl::OutOfRangeError(absl::StrCat(uri, ": read at offset ", Hex(r.offset), " overflows"));
    }
    for (uint64_t done = 0; done < r.out.size();) {
      const uint64_t at = r.offset + done;
      if (run.length == 0 || run.offset + run.length != at || run.length == chunk) {
        flush();
        run.offset = at;
      }
      size_t n = std::min<uint64_t>(r.out.size() - done, chunk - run.length);
      run.pieces.push_back({r.out.data() + done, n});
      run.length += n;
      done += n;
    }
  }
  flush();
  // Returning early must leave libnbd writing into no caller memory: wait (until the
  // deadline) for the caller-memory reads still in flight, then quiesce the connections
  // of any that are not done.
  auto abandon = [&](absl::Status status) {
    for (Part& p : parts) {
      if (p.conn == nullptr || !p.read->external()) continue;
      p.read->Wait(deadline);
      if (!p.read->libnbd_done()) p.conn->Quiesce(status);
    }
    return status;
  };
  auto await = [&](Part& p) -> absl::Status {
    if (!p.read->Wait(deadline)) {
      request_errors_.fetch_add(1, std::memory_order_relaxed);
      return base::DeadlineError(absl::StrCat(uri, ": no reply by the read's deadline to a read of ",
                                              p.read->length, " bytes at offset ", Hex(p.read->offset)));
    }
    if (!p.read->status().ok()) request_errors_.fetch_add(1, std::memory_order_relaxed);
    return p.read->status();
  };
  for (Part& p : parts) {
    auto conn = Pick(deadline);
    if (!conn.ok()) return abandon(conn.status());
    // Against this connection's size: after a reconnect the export may have grown.
    if (!base::RangeWithin(p.read->offset, p.read->length, (*conn)->info().size)) {
      return abandon(absl::OutOfRangeError(absl::StrCat(
          uri, ": read of ", p.read->length, " bytes at offset ", Hex(p.read->offset),
          " is past the export's end (", (*conn)->info().size, " bytes)")));
    }
    if (!pipelined) {
      if (!(*conn)->AcquireSlot(deadline)) {
        return abandon(base::DeadlineError(absl::StrCat(
            uri, ": the read's deadline passed while the connection carried another read (a "
                 "read at offset ", Hex(p.read->offset), ")")));
      }
      // The connection outlives its reads: dying completes every one.
      p.read->set_on_complete([c = conn->get()] { c->ReleaseSlot(); });
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    p.conn = *conn;
    p.conn->Submit(p.read);
    if (!pipelined) {
      if (absl::Status s = await(p); !s.ok()) return abandon(s);
    }
  }
  if (pipelined) {
    for (Part& p : parts) {
      if (absl::Status s = await(p); !s.ok()) return abandon(s);
    }
  }
  for (Part& p : parts) {
    if (p.read->external()) continue;
    const uint8_t* from = p.read->data();
    for (const Piece& piece : p.pieces) {
      std::memcpy(piece.out, from, piece.length);
      from += piece.length;
    }
  }
  CountRead(requests);
  return absl::OkStatus();
}

}  // namespace kcorefs::backends
