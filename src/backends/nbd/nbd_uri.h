// What an NBD URI says about its transport, read before anything connects: kcorefs
// refuses plain-text TCP to a host other than this one (kernel memory holds keys and
// passwords), and TLS options only make sense with a TLS scheme.
#ifndef KCOREFS_BACKENDS_NBD_NBD_URI_H_
#define KCOREFS_BACKENDS_NBD_NBD_URI_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kcorefs::backends {

struct NbdUri {
  enum class Transport { kTcp, kUnix, kVsock };
  std::string scheme;  // "nbd", "nbds", "nbd+unix", "nbds+unix", "nbd+vsock", "nbds+vsock"
  Transport transport = Transport::kTcp;
  bool tls = false;    // nbds*: TLS required
  std::string host;    // TCP: the host as written, without brackets, user or port
  bool loopback = false;  // TCP to this machine: localhost, 127.0.0.0/8, ::1
};

// The URI schemes of libnbd (nbd_connect_uri(3)).
bool IsNbdScheme(absl::string_view scheme);

// InvalidArgument for a URI that is not one of libnbd's forms, naming it.
absl::StatusOr<NbdUri> ParseNbdUri(absl::string_view uri);

// PermissionDenied for plain-text TCP to a non-loopback host unless `insecure`; the
// message names the host and the two ways out (nbds://, -o insecure).
absl::Status CheckTransportPolicy(const NbdUri& uri, bool insecure);

// What a kcorefs agent says of its export in the NBD export description
// ("kcorefs VIEW of SOURCE (live)" or "(immutable)"): 1 live, 0 immutable, -1 not ours.
int DescriptionLiveness(absl::string_view description);

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_NBD_NBD_URI_H_
