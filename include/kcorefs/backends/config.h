// Per-backend configuration: key=value pairs from `kcorefs mount -o` and the other
// commands' `-O`, validated by the backend against the keys it declares, plus the
// derivation options every backend shares (--vmcoreinfo).
#ifndef KCOREFS_BACKENDS_CONFIG_H_
#define KCOREFS_BACKENDS_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kcorefs/kernel/kernel_facts.h"

namespace kcorefs::backends {

// A key a backend takes, for validation, `kcorefs backends` and its doc page.
struct ConfigKey {
  absl::string_view name;
  absl::string_view value;   // the value's shape: "SECONDS", "BYTES", "PATH", "" (a flag)
  absl::string_view help;
};

class BackendConfig {
 public:
  kernel::DeriveOptions derive;

  // Parses "k=v,k2=v2,flag" (a bare key means "true"). A key given twice keeps the last.
  absl::Status ParseList(absl::string_view list);
  void Set(absl::string_view key, absl::string_view value);
  bool empty() const { return values_.empty(); }
  const std::map<std::string, std::string>& values() const { return values_; }

  // Fails naming the first key not in `keys`, and the keys the backend takes.
  absl::Status Check(absl::string_view backend, const std::vector<ConfigKey>& keys) const;

  // Typed getters. A malformed value is InvalidArgument naming the key and the shape
  // expected; an absent key gives the default.
  std::optional<std::string> Get(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key, bool def) const;
  absl::StatusOr<uint64_t> GetUint(absl::string_view key, uint64_t def) const;
  // Sizes accept K, M, G suffixes (powers of 1024).
  absl::StatusOr<uint64_t> GetBytes(absl::string_view key, uint64_t def) const;
  // Durations in seconds, fractions allowed ("0.5"), or with a unit ("200ms").
  absl::StatusOr<absl::Duration> GetDuration(absl::string_view key, absl::Duration def) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_CONFIG_H_
