// nbdkit-kcorefs-plugin: `nbdkit kcorefs source=SOURCE view=VIEW` serves one kcorefs view
// read-only over NBD. This file is the nbdkit edge: it turns absl::Status into
// nbdkit_error + errno and nothing else; agent.cc does the work over the core library.
//
// Lifecycle (nbdkit-plugin(3)): .config collects keys; .config_complete validates them,
// opens the backend and builds the view (Backend::Open starts no threads), so bad keys,
// unknown views and corrupt dumps fail startup while stderr is still the user's terminal;
// .thread_model follows the backend's capabilities; nbdkit may then fork, and
// .after_fork starts the backend's threads in the serving process; .cleanup closes it.
#define NBDKIT_API_VERSION 2
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nbdkit-plugin.h>
#include <sys/socket.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"
#include "nbdkit/agent.h"

namespace kcorefs::nbdkit {
namespace {

// nbdkit calls the global callbacks from one thread (load, config, config_complete,
// thread_model, get_ready, after_fork, cleanup, unload); connections only use `agent`
// after after_fork, and Agent is thread-safe for them.
AgentOptions* options = nullptr;
Agent* agent = nullptr;
pid_t configured_pid = 0;
bool closed = false;

void Error(const absl::Status& status) {
  nbdkit_error("%s", std::string(status.message()).c_str());
}

void Load() { options = new AgentOptions(); }

void Unload() {
  // The backend's contract: Close() once before destruction, whatever nbdkit called.
  if (agent != nullptr && !closed) agent->Close();
  delete agent;
  agent = nullptr;
  delete options;
  options = nullptr;
}

int Config(const char* key, const char* value) {
  if (absl::Status s = SetOption(key, value, *options); !s.ok()) {
    Error(s);
    return -1;
  }
  return 0;
}

int ConfigComplete() {
  auto opened = Agent::Open(std::move(*options));
  if (!opened.ok()) {
    Error(opened.status());
    return -1;
  }
  agent = opened->release();
  // Warnings are for the user starting the agent; stderr is still theirs here.
  for (const std::string& w : agent->Warnings()) {
    std::fprintf(stderr, "nbdkit: kcorefs: warning: %s\n", w.c_str());
  }
  configured_pid = ::getpid();
  return 0;
}

int ThreadModel() {
  // A backend that answers one call at a time (a GDB stub) gets one request at a time.
  return agent != nullptr && agent->serialized() ? NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS
                                                 : NBDKIT_THREAD_MODEL_PARALLEL;
}

int AfterFork() {
  // In the background nbdkit's own messages go to syslog; the library's follow them.
  if (::getpid() != configured_pid) base::LogToSyslog();
  if (absl::Status s = agent->Start(); !s.ok()) {
    Error(base::Annotate(s, absl::StrCat("starting ", agent->options().source)));
    return -1;
  }
  return 0;
}

void Cleanup() {
  if (agent != nullptr && !closed) agent->Close();
  closed = true;
}

void DumpPlugin() {
  std::printf("kcorefs_version=%s\n", KCOREFS_VERSION);
  std::printf("kcorefs_views=%s\n", elf::ViewNames().c_str());
  std::string names;
  for (const backends::BackendFactory* f : backends::Backends()) {
    absl::StrAppend(&names, names.empty() ? "" : ",", f->name());
  }
  std::printf("kcorefs_backends=%s\n", names.c_str());
}

// Kernel memory never crosses a network in clear: a TCP client (any address, loopback
// too: every local user can reach it) must have come over TLS. Unix sockets (file
// permissions), vsock and a stdin pipe (-s) are let in.
bool RefusePlainTcp() {
  if (agent->options().allow_plain_tcp || nbdkit_is_tls() == 1) return false;
  sockaddr_storage peer{};
  socklen_t len = sizeof(peer);
  if (nbdkit_peer_name(reinterpret_cast<sockaddr*>(&peer), &len) != 0) return false;
  if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) return false;
  char host[INET6_ADDRSTRLEN] = "?";
  const void* a = peer.ss_family == AF_INET
                      ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&peer)->sin_addr)
                      : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr);
  ::inet_ntop(peer.ss_family, a, host, sizeof(host));
  nbdkit_error("kcorefs: refusing %s: a TCP client without TLS; serve TCP with --tls=require "
               "--tls-psk=FILE (docs/agent.md), or a unix socket (-U), or pass allow_plain_tcp=1",
               host);
  errno = EACCES;
  return true;
}

void* Open(int readonly) {
  if (RefusePlainTcp()) return nullptr;
  auto conn = agent->Connect();
  if (!conn.ok()) {
    Error(conn.status());
    return nullptr;
  }
  return conn->release();
}

void Close(void* handle) { delete static_cast<Connection*>(handle); }

int64_t GetSize(void* handle) {
  // NBD sizes are signed 64-bit; no view comes near 2^63 bytes.
  return static_cast<int64_t>(static_cast<Connection*>(handle)->size());
}

int CanWrite(void*) { return 0; }
int CanMultiConn(void*) { return 1; }  // read-only: every connection sees the same bytes
int IsRotational(void*) { return 0; }
int CanExtents(void*) { return 1; }

int Pread(void* handle, void* buf, uint32_t count, uint64_t offset, uint32_t flags) {
  const Connection& conn = *static_cast<Connection*>(handle);
  absl::Status s = conn.Read(offset, absl::MakeSpan(static_cast<uint8_t*>(buf), count),
                             absl::Now() + agent->options().timeout);
  if (!s.ok()) {
    // Never zeros: the client gets EIO and the log says which bytes and why.
    nbdkit_error("%s view: read of %u bytes at offset %s failed: %s",
                 std::string(conn.view().name()).c_str(), count, base::Hex(offset).c_str(),
                 std::string(s.message()).c_str());
    nbdkit_set_error(EIO);
    return -1;
  }
  return 0;
}

int Extents(void* handle, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents* extents) {
  const Connection& conn = *static_cast<Connection*>(handle);
  absl::Status s = conn.Extents(offset, count, [&](uint64_t at, uint64_t length, bool hole) {
    if (nbdkit_add_extent(extents, at, length, hole ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0) != 0) {
      return absl::InternalError("nbdkit_add_extent failed");
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    nbdkit_error("%s view: extents at offset %s: %s", std::string(conn.view().name()).c_str(),
                 base::Hex(offset).c_str(), std::string(s.message()).c_str());
    nbdkit_set_error(EIO);
    return -1;
  }
  return 0;
}

const char* ExportDescription(void*) {
  // nbdkit owns the interned copy for the connection's life.
  return nbdkit_strdup_intern(agent->Description().c_str());
}

int BlockSize(void*, uint32_t* minimum, uint32_t* preferred, uint32_t* maximum) {
  *minimum = 1;
  *preferred = 4096;
  *maximum = 32 * 1024 * 1024;
  return 0;
}

// The help text lists every backend's keys, read from the registry; the backends register
// themselves at load time (static initialisers), so it is built on first use.
const char* HelpTextOnce() {
  static const std::string* text = new std::string(HelpText());
  return text->c_str();
}

}  // namespace
}  // namespace kcorefs::nbdkit

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

namespace {
nbdkit_plugin kcorefs_plugin = [] {
  namespace k = kcorefs::nbdkit;
  nbdkit_plugin p{};
  p.name = "kcorefs";
  p.longname = "kcorefs: a kernel's memory as core files";
  p.version = KCOREFS_VERSION;
  p.description = "serves one kcorefs view (vmcore, kcore, ...) of any kcorefs source, read-only";
  p.load = k::Load;
  p.unload = k::Unload;
  p.config = k::Config;
  p.config_complete = k::ConfigComplete;
  p.magic_config_key = "source";
  p.thread_model = k::ThreadModel;
  p.after_fork = k::AfterFork;
  p.cleanup = k::Cleanup;
  p.dump_plugin = k::DumpPlugin;
  p.open = k::Open;
  p.close = k::Close;
  p.get_size = k::GetSize;
  p.can_write = k::CanWrite;
  p.can_multi_conn = k::CanMultiConn;
  p.is_rotational = k::IsRotational;
  p.can_extents = k::CanExtents;
  p.pread = k::Pread;
  p.extents = k::Extents;
  p.export_description = k::ExportDescription;
  p.block_size = k::BlockSize;
  p.errno_is_preserved = 0;
  return p;
}();
}  // namespace

// NBDKIT_REGISTER_PLUGIN, with config_help filled in from the registry first (nbdkit
// copies the struct when it registers the plugin, so it cannot be set later in .load).
extern "C" NBDKIT_DLL_PUBLIC struct nbdkit_plugin* plugin_init(void) {
  kcorefs_plugin.config_help = kcorefs::nbdkit::HelpTextOnce();
  kcorefs_plugin._struct_size = sizeof(kcorefs_plugin);
  kcorefs_plugin._api_version = NBDKIT_API_VERSION;
  kcorefs_plugin._thread_model = THREAD_MODEL;
  return &kcorefs_plugin;
}
