// Fuzz target: what an NBD server or a user hands the nbd backend as text before any
// connection — a URI (its scheme and host decide the plain-text policy) and the export
// description a server sends (it decides liveness). Neither may crash, and a URI the
// policy lets through in plain text must be a loopback, unix or vsock one.
#include <cstddef>
#include <cstdint>
#include <string>

#include "backends/nbd/nbd_uri.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  int live = kcorefs::backends::DescriptionLiveness(text);
  KCOREFS_FUZZ_CHECK(live >= -1 && live <= 1);
  auto uri = kcorefs::backends::ParseNbdUri(text);
  if (!uri.ok()) return 0;
  KCOREFS_FUZZ_CHECK(kcorefs::backends::IsNbdScheme(uri->scheme));
  if (kcorefs::backends::CheckTransportPolicy(*uri, false).ok() && !uri->tls &&
      uri->transport == kcorefs::backends::NbdUri::Transport::kTcp) {
    KCOREFS_FUZZ_CHECK(uri->loopback);
  }
  return 0;
}
