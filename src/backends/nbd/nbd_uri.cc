#include "backends/nbd/nbd_uri.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kcorefs::backends {

bool IsNbdScheme(absl::string_view s) {
  return s == "nbd" || s == "nbds" || s == "nbd+unix" || s == "nbds+unix" || s == "nbd+vsock" ||
         s == "nbds+vsock";
}

namespace {

bool IsLoopback(const std::string& host) {
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4;
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) ||
           (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

}  // namespace

absl::StatusOr<NbdUri> ParseNbdUri(absl::string_view uri) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", uri, "\" is not an NBD URI (", why,
        "); the forms are nbd://HOST[:PORT][/EXPORT], nbds://…, nbd+unix:///EXPORT?socket=PATH, "
        "nbd+vsock://CID[:PORT]"));
  };
  size_t sep = uri.find("://");
  if (sep == absl::string_view::npos) return bad("no \"://\"");
  NbdUri out;
  out.scheme = absl::AsciiStrToLower(uri.substr(0, sep));
  if (!IsNbdScheme(out.scheme)) return bad(absl::StrCat("unknown scheme \"", out.scheme, "\""));
  out.tls = absl::StartsWith(out.scheme, "nbds");
  if (absl::EndsWith(out.scheme, "+unix")) {
    out.transport = NbdUri::Transport::kUnix;
    if (!absl::StrContains(uri, "socket=")) return bad("a unix URI needs ?socket=PATH");
    return out;
  }
  if (absl::EndsWith(out.scheme, "+vsock")) {
    out.transport = NbdUri::Transport::kVsock;
    return out;
  }
  absl::string_view authority = uri.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (absl::ConsumePrefix(&authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("unclosed \"[\" in the host");
    out.host = std::string(authority.substr(0, close));
  } else {
    out.host = std::string(authority.substr(0, authority.find(':')));
  }
  if (out.host.empty()) return bad("no host");
  out.loopback = IsLoopback(out.host);
  return out;
}

absl::Status CheckTransportPolicy(const NbdUri& uri, bool insecure) {
  if (uri.transport != NbdUri::Transport::kTcp || uri.tls || uri.loopback || insecure) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "refusing plain-text NBD to ", uri.host,
      ": kernel memory would cross the network unencrypted. Serve it with TLS "
      "(nbdkit --tls=require --tls-psk=FILE …) and mount nbds://", uri.host,
      "/?tls-psk-file=FILE, or pass -o insecure if this network is trusted"));
}

int DescriptionLiveness(absl::string_view d) {
  if (!absl::StartsWith(d, "kcorefs ")) return -1;
  if (absl::EndsWith(d, "(live)")) return 1;
  if (absl::EndsWith(d, "(immutable)")) return 0;
  return -1;
}

}  // namespace kcorefs::backends
