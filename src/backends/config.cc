#include "kcorefs/backends/config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kcorefs::backends {
namespace {

absl::Status Malformed(absl::string_view key, absl::string_view value, absl::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat("option ", key, "=", value, ": expected ", want));
}

}  // namespace

absl::Status BackendConfig::ParseList(absl::string_view list) {
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    size_t eq = item.find('=');
    absl::string_view key = item.substr(0, eq);
    if (key.empty()) return absl::InvalidArgumentError(absl::StrCat("option \"", item, "\" has no name"));
    Set(key, eq == absl::string_view::npos ? "true" : item.substr(eq + 1));
  }
  return absl::OkStatus();
}

void BackendConfig::Set(absl::string_view key, absl::string_view value) {
  values_[std::string(key)] = std::string(value);
}

absl::Status BackendConfig::Check(absl::string_view backend,
                                  const std::vector<ConfigKey>& keys) const {
  for (const auto& [k, v] : values_) {
    bool known = false;
    for (const ConfigKey& ck : keys) known = known || ck.name == k;
    if (known) continue;
    std::vector<std::string> names;
    for (const ConfigKey& ck : keys) names.emplace_back(ck.name);
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown option \"", k, "\" for backend ", backend, "; ",
        names.empty() ? "it takes no options"
                      : absl::StrCat("it takes: ", absl::StrJoin(names, ", ")),
        " (see `kcorefs backends`)"));
  }
  return absl::OkStatus();
}

std::optional<std::string> BackendConfig::Get(absl::string_view key) const {
  auto it = values_.find(std::string(key));
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<bool> BackendConfig::GetBool(absl::string_view key, bool def) const {
  auto v = Get(key);
  if (!v) return def;
  std::string s = absl::AsciiStrToLower(*v);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return Malformed(key, *v, "true or false");
}

absl::StatusOr<uint64_t> BackendConfig::GetUint(absl::string_view key, uint64_t def) const {
  auto v = Get(key);
  if (!v) return def;
  uint64_t n;
  if (!absl::SimpleAtoi(*v, &n)) return Malformed(key, *v, "a non-negative integer");
  return n;
}

absl::StatusOr<uint64_t> BackendConfig::GetBytes(absl::string_view key, uint64_t def) const {
  auto v = Get(key);
  if (!v) return def;
  absl::string_view s = *v;
  int shift = 0;
  if (!s.empty()) {
    switch (absl::ascii_toupper(s.back())) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      default: break;
    }
    if (shift != 0) s.remove_suffix(1);
  }
  uint64_t n;
  if (!absl::SimpleAtoi(s, &n) || (shift != 0 && n > (~uint64_t{0} >> shift))) {
    return Malformed(key, *v, "a size in bytes, optionally with K, M or G");
  }
  return n << shift;
}

absl::StatusOr<absl::Duration> BackendConfig::GetDuration(absl::string_view key,
                                                          absl::Duration def) const {
  auto v = Get(key);
  if (!v) return def;
  double secs;
  if (absl::SimpleAtod(*v, &secs) && secs >= 0) return absl::Seconds(secs);
  absl::Duration d;
  if (absl::ParseDuration(*v, &d) && d >= absl::ZeroDuration()) return d;
  return Malformed(key, *v, "seconds (\"2\", \"0.5\") or a duration (\"200ms\")");
}

}  // namespace kcorefs::backends
