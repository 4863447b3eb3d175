// nbd: a kernel core exported by an NBD server (stock `nbdkit -r file /proc/kcore` on the
// target, a dump file, or a kcorefs view served by nbdkit-kcorefs-plugin). The export is
// parsed as any ELF core (backends/common/elf_core) over an NBD byte source with the
// shared remote stack (cache, retry) on top. docs/backends/kcorefs-nbd-backend.7.md.
#include <signal.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "backends/common/elf_core.h"
#include "backends/common/live_core.h"
#include "backends/common/snapshot_builder.h"
#include "backends/nbd/nbd_source.h"
#include "backends/nbd/nbd_uri.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/io/decorators.h"

namespace kcorefs::backends {
namespace {

// Freshness of a live export's cached blocks (docs/performance.md, "nbd backend").
constexpr absl::Duration kLiveCacheTtl = absl::Seconds(1);

struct NbdConfig {
  NbdSourceOptions source;
  io::CacheOptions cache;
  bool cache_on = true;
  absl::Duration live_ttl = kLiveCacheTtl;
  int live = -1;      // -1 auto, 0 no, 1 yes
  int pipeline = -1;  // the same
};

absl::StatusOr<int> AutoYesNo(const BackendConfig& c, const std::string& key) {
  std::string v = c.Get(key).value_or("auto");
  if (v == "auto") return -1;
  if (v == "yes" || v == "true" || v == "1") return 1;
  if (v == "no" || v == "false" || v == "0") return 0;
  return absl::InvalidArgumentError(absl::StrCat(key, ": auto, yes or no, not \"", v, "\""));
}

absl::StatusOr<NbdConfig> ReadConfig(const std::string& uri, const NbdUri& parsed,
                                     const BackendConfig& c) {
  NbdConfig out;
  NbdTarget& t = out.source.target;
  t.uri = uri;
  t.tls_psk_file = c.Get("tls_psk_file");
  t.tls_username = c.Get("tls_username");
  t.tls_certificates = c.Get("tls_certificates");
  if (c.Get("tls_verify")) {
    KCOREFS_ASSIGN_OR_RETURN(bool v, c.GetBool("tls_verify", true));
    t.tls_verify = v;
  }
  if ((t.tls_psk_file || t.tls_username || t.tls_certificates || t.tls_verify) && !parsed.tls) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_* options need a TLS URI: write nbds", uri.substr(uri.find(':')), " instead of ", uri));
  }
  KCOREFS_ASSIGN_OR_RETURN(t.request_timeout, c.GetDuration("request_timeout", absl::Seconds(10)));
  KCOREFS_ASSIGN_OR_RETURN(out.source.connect_timeout, c.GetDuration("connect_timeout", absl::Seconds(10)));
  KCOREFS_ASSIGN_OR_RETURN(uint64_t conns, c.GetUint("connections", 4));
  if (conns < 1 || conns > 64) return absl::InvalidArgumentError("connections: 1 to 64");
  out.source.connections = static_cast<int>(conns);
  KCOREFS_ASSIGN_OR_RETURN(out.cache.capacity_bytes, c.GetBytes("cache_size", 64 << 20));
  KCOREFS_ASSIGN_OR_RETURN(out.cache.block_size, c.GetBytes("block_size", 64 << 10));
  KCOREFS_ASSIGN_OR_RETURN(uint64_t prefetch, c.GetUint("prefetch", 16));
  if (prefetch > 1024) return absl::InvalidArgumentError("prefetch: at most 1024 blocks");
  out.cache.readahead_blocks = static_cast<uint32_t>(prefetch);
  out.cache_on = out.cache.capacity_bytes > 0;
  KCOREFS_ASSIGN_OR_RETURN(out.cache.bypass_bytes, c.GetBytes("bulk_bytes", 256 << 10));
  KCOREFS_ASSIGN_OR_RETURN(out.live_ttl, c.GetDuration("cache_ttl", kLiveCacheTtl));
  KCOREFS_ASSIGN_OR_RETURN(out.live, AutoYesNo(c, "live"));
  KCOREFS_ASSIGN_OR_RETURN(out.pipeline, AutoYesNo(c, "pipeline"));
  return out;
}

// What the export is, as far as the choices below need it. The core is parsed only when
// the export description does not say (kcorefs's agent names itself there).
class ExportShape {
 public:
  explicit ExportShape(std::shared_ptr<NbdByteSource> raw)
      : raw_(std::move(raw)), agent_liveness_(DescriptionLiveness(raw_->first_export().description)) {}
  bool from_agent() const { return agent_liveness_ >= 0; }
  bool agent_says_live() const { return agent_liveness_ == 1; }
  const std::string& description() const { return raw_->first_export().description; }
  // /proc/kcore's shape (NT_TASKSTRUCT).
  absl::StatusOr<bool> kcore() {
    if (!kcore_) {
      KCOREFS_ASSIGN_OR_RETURN(ElfCoreContents core, ReadElfCore(raw_, raw_->size()));
      kcore_ = core.has_taskstruct;
    }
    return *kcore_;
  }

 private:
  std::shared_ptr<NbdByteSource> raw_;
  int agent_liveness_;
  std::optional<bool> kcore_;
};

// Live when the user says so; else when a kcorefs agent says so in its export
// description; else when the core has /proc/kcore's shape (NT_TASKSTRUCT): a saved copy
// of a kcore is then treated as live, which costs cache hits but never serves old bytes.
absl::StatusOr<bool> DecideLive(const NbdConfig& cfg, ExportShape& shape, std::string& why) {
  if (cfg.live >= 0) {
    why = "-o live";
    return cfg.live == 1;
  }
  if (shape.from_agent()) {
    why = absl::StrCat("the export description \"", shape.description(), "\"");
    return shape.agent_says_live();
  }
  KCOREFS_ASSIGN_OR_RETURN(bool kcore, shape.kcore());
  why = kcore ? "the /proc/kcore layout (NT_TASKSTRUCT)" : "an ELF core without NT_TASKSTRUCT";
  return kcore;
}

// Pipelined unless the export is /proc/kcore served by something other than kcorefs's
// agent: nbdkit's file plugin answers one connection's requests from many threads on one
// open /proc/kcore, and concurrent reads of one open /proc/kcore share the kernel's
// bounce buffer (their bytes get mixed up). One read per connection is then right.
absl::StatusOr<bool> DecidePipeline(const NbdConfig& cfg, ExportShape& shape, std::string& why) {
  if (cfg.pipeline >= 0) {
    why = "-o pipeline";
    return cfg.pipeline == 1;
  }
  if (shape.from_agent()) {
    why = "kcorefs's agent";
    return true;
  }
  KCOREFS_ASSIGN_OR_RETURN(bool kcore, shape.kcore());
  why = kcore ? "/proc/kcore served by a file server: one read at a time per connection"
              : "not a /proc/kcore";
  return !kcore;
}

class NbdBackend final : public Backend {
 public:
  // `timeout` bounds what an open asks of the server (the export's size, the layout): a
  // stalled server fails the open with EIO instead of holding it.
  NbdBackend(std::string uri, bool live, std::shared_ptr<NbdByteSource> raw, io::RemoteStack stack,
             kernel::DeriveOptions derive, absl::Duration timeout)
      : uri_(std::move(uri)), live_(live), raw_(raw), stack_(std::move(stack)),
        core_(uri_, live ? "live ELF core over NBD" : "ELF core over NBD", stack_.source,
              [raw, timeout]() -> absl::StatusOr<uint64_t> {
                KCOREFS_ASSIGN_OR_RETURN(NbdExport e, raw->CurrentExport(absl::Now() + timeout));
                return e.size;
              },
              std::move(derive), live ? timeout : absl::InfiniteDuration()) {}

  absl::string_view name() const override { return "nbd"; }
  const std::string& source() const override { return uri_; }
  Capabilities capabilities() const override {
    return Capabilities{.bytes_volatile = live_, .map_volatile = live_,
                        .threads = ThreadModel::kParallel, .fd_backed = false};
  }
  // An immutable export has one snapshot; a live one is re-read when its layout changes.
  absl::StatusOr<std::shared_ptr<const Snapshot>> Current() override {
    {
      // One open of a file is several FUSE calls (lookup, getattr, open), each asking:
      // while the server has just failed one, the others fail at once instead of each
      // waiting out the timeout again.
      absl::MutexLock lock(&mu_);
      if (!live_ && first_ != nullptr) return first_;
      if (!last_failure_.ok() && absl::Now() - last_failure_at_ < kFailureMemory) return last_failure_;
    }
    auto snap = core_.Current();
    if (!snap.ok()) {
      absl::MutexLock lock(&mu_);
      last_failure_ = snap.status();
      last_failure_at_ = absl::Now();
      return snap.status();
    }
    absl::MutexLock lock(&mu_);
    if (!live_ && first_ == nullptr) first_ = *snap;
    return live_ ? *snap : first_;
  }
  uint64_t bytes_read() const override { return raw_->bytes_read(); }
  void Close() override { raw_->Close(); }
  std::vector<std::pair<std::string, std::string>> Stats() const override {
    NbdSourceStats s = raw_->stats();
    std::vector<std::pair<std::string, std::string>> out = {
        {"nbd_server", uri_},
        {"nbd_live", live_ ? "1" : "0"},
        {"nbd_pipelined", raw_->pipelined() ? "1" : "0"},
        {"nbd_connections", absl::StrCat(s.connections)},
        {"nbd_reconnects", absl::StrCat(s.reconnects)},
        {"nbd_requests", absl::StrCat(s.requests)},
        {"nbd_request_errors", absl::StrCat(s.request_errors)},
        {"nbd_bytes", absl::StrCat(raw_->bytes_read())},
        {"nbd_retries", absl::StrCat(stack_.retry->retries())},
    };
    if (stack_.cache != nullptr) {
      io::CacheStats c = stack_.cache->stats();
      out.insert(out.end(), {{"cache_hits", absl::StrCat(c.hits)},
                             {"cache_misses", absl::StrCat(c.misses)},
                             {"cache_coalesced", absl::StrCat(c.coalesced)},
                             {"cache_readahead", absl::StrCat(c.readahead)},
                             {"cache_expired", absl::StrCat(c.expired)},
                             {"cache_evictions", absl::StrCat(c.evictions)},
                             {"cache_resident_bytes", absl::StrCat(c.resident_bytes)},
                             {"cache_capacity_bytes", absl::StrCat(c.capacity_bytes)}});
    }
    return out;
  }

 private:
  const std::string uri_;
  const bool live_;
  const std::shared_ptr<NbdByteSource> raw_;
  const io::RemoteStack stack_;
  LiveElfCore core_;
  static constexpr absl::Duration kFailureMemory = absl::Seconds(1);
  absl::Mutex mu_;
  // Immutable exports: set by Open's first Current().
  std::shared_ptr<const Snapshot> first_ ABSL_GUARDED_BY(mu_);
  absl::Status last_failure_ ABSL_GUARDED_BY(mu_);
  absl::Time last_failure_at_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<Backend>> OpenNbd(const std::string& uri, const BackendConfig& config) {
  KCOREFS_ASSIGN_OR_RETURN(NbdUri parsed, ParseNbdUri(uri));
  KCOREFS_ASSIGN_OR_RETURN(bool insecure, config.GetBool("insecure", false));
  // Before anything is sent: the policy refuses plain text off this machine.
  KCOREFS_RETURN_IF_ERROR(CheckTransportPolicy(parsed, insecure));
  KCOREFS_ASSIGN_OR_RETURN(NbdConfig cfg, ReadConfig(uri, parsed, config));
  // A server that closes while a request is being written must give an error, not kill
  // the daemon.
  struct sigaction old;
  if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
  KCOREFS_ASSIGN_OR_RETURN(auto raw, NbdByteSource::Open(cfg.source, absl::Now() + cfg.source.connect_timeout));
  ExportShape shape(raw);
  std::string why, pipe_why;
  KCOREFS_ASSIGN_OR_RETURN(bool live, DecideLive(cfg, shape, why));
  KCOREFS_ASSIGN_OR_RETURN(bool pipelined, DecidePipeline(cfg, shape, pipe_why));
  raw->SetPipelined(pipelined);
  cfg.cache.ttl = live ? cfg.live_ttl : absl::InfiniteDuration();
  io::RemoteOptions remote;
  remote.deadline_pool = false;  // NbdByteSource keeps deadlines itself
  remote.cache = cfg.cache_on && cfg.cache.ttl > absl::ZeroDuration();
  remote.cache_options = cfg.cache;
  KCOREFS_ASSIGN_OR_RETURN(io::RemoteStack stack, io::BuildRemote(raw, remote));
  base::LogDebug(absl::StrCat(uri, ": ", raw->size(), " bytes, ", live ? "live" : "immutable",
                              " (", why, "), ", pipelined ? "pipelined" : "not pipelined",
                              " (", pipe_why, ")",
                              raw->first_export().multi_conn ? ", multi-conn" : ""));
  auto backend = std::make_unique<NbdBackend>(uri, live, raw, std::move(stack), config.derive,
                                              cfg.source.target.request_timeout);
  KCOREFS_RETURN_IF_ERROR(backend->Current().status());
  return std::unique_ptr<Backend>(std::move(backend));
}

class NbdFactory final : public BackendFactory {
 public:
  absl::string_view name() const override { return "nbd"; }
  absl::string_view summary() const override {
    return "a core exported by an NBD server (nbdkit -r file /proc/kcore, nbdkit kcorefs)";
  }
  std::vector<ConfigKey> keys() const override {
    return {
        {"connect_timeout", "SECONDS", "bound on connecting and the TLS and NBD handshake (10)"},
        {"request_timeout", "SECONDS", "a read unanswered this long drops the connection (10)"},
        {"cache_size", "BYTES", "block cache capacity, 0 for none (64M)"},
        {"block_size", "BYTES", "cache block (64K)"},
        {"prefetch", "N", "blocks read ahead of sequential reads (16)"},
        {"bulk_bytes", "BYTES", "reads this large bypass the cache (256K; 0: none do)"},
        {"cache_ttl", "SECONDS", "live exports: oldest cached byte served (1)"},
        {"connections", "N", "connections at most when the server offers multi-conn (4)"},
        {"live", "auto|yes|no", "treat the export as a running kernel (auto)"},
        {"pipeline", "auto|yes|no",
         "many reads in flight per connection (auto: not for /proc/kcore from a file server)"},
        {"insecure", "", "allow plain-text nbd:// to a host other than this one"},
        {"tls_psk_file", "PATH", "TLS pre-shared key file (USER:HEXKEY lines)"},
        {"tls_username", "NAME", "TLS user name (default: the login name)"},
        {"tls_certificates", "DIR", "TLS x509 certificates directory"},
        {"tls_verify", "yes|no", "verify the server's x509 certificate (yes)"},
    };
  }
  int Probe(const ProbeInput& in) const override { return IsNbdScheme(in.scheme) ? 100 : 0; }
  absl::StatusOr<std::unique_ptr<Backend>> Open(const std::string& source,
                                                const BackendConfig& config) const override {
    return OpenNbd(source, config);
  }
};

KCOREFS_REGISTER_BACKEND(NbdFactory);

}  // namespace
}  // namespace kcorefs::backends
