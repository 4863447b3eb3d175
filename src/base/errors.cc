#include "absl/strings/string_view.h"
#include "kcorefs/base/errors.h"

#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kcorefs::base {
namespace {
constexpr char kFaultPayload[] = "kcorefs/fault-address";
}

absl::Status FaultError(uint64_t addr, absl::string_view what) {
  absl::Status s = absl::DataLossError(absl::StrCat(what, " at ", Hex(addr), " is not in the source"));
  s.SetPayload(kFaultPayload, absl::Cord(absl::StrCat(addr)));
  return s;
}

std::optional<uint64_t> FaultAddress(const absl::Status& status) {
  auto p = status.GetPayload(kFaultPayload);
  if (!p.has_value()) return std::nullopt;
  uint64_t v;
  if (!absl::SimpleAtoi(std::string(*p), &v)) return std::nullopt;
  return v;
}

absl::Status ErrnoError(int err, absl::string_view what) {
  // ErrnoToStatus appends strerror itself.
  return absl::ErrnoToStatus(err, what);
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

std::string Hex(uint64_t v) { return absl::StrFormat("%#x", v); }

}  // namespace kcorefs::base
