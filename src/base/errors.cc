#include "kcorefs/base/errors.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace kcorefs::base {
namespace {
constexpr char kFaultPayload[] = "kcorefs/fault-address";
constexpr char kKindPayload[] = "kcorefs/error-kind";

bool TransientErrno(int err) {
  switch (err) {
    case EAGAIN: case EINTR: case ETIMEDOUT: case ECONNRESET: case ECONNREFUSED: case EPIPE:
    case ENOTCONN: case ESHUTDOWN: case EHOSTUNREACH: case ENETUNREACH: case ECONNABORTED:
      return true;
    default:
      return false;
  }
}
}  // namespace

absl::Status FaultError(uint64_t addr, absl::string_view what) {
  absl::Status s = absl::DataLossError(absl::StrCat(what, " at ", Hex(addr), " is not in the source"));
  s.SetPayload(kFaultPayload, absl::Cord(absl::StrCat(addr)));
  return WithKind(std::move(s), ErrorKind::kFault);
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
  return WithKind(absl::ErrnoToStatus(err, what),
                  TransientErrno(err) ? ErrorKind::kTransient : ErrorKind::kPermanent);
}

absl::Status TransientError(absl::string_view what) {
  return WithKind(absl::UnavailableError(what), ErrorKind::kTransient);
}

absl::Status DeadlineError(absl::string_view what) {
  return WithKind(absl::DeadlineExceededError(what), ErrorKind::kTransient);
}

absl::Status WithKind(absl::Status status, ErrorKind kind) {
  if (status.ok()) return status;
  status.SetPayload(kKindPayload, absl::Cord(KindName(kind)));
  return status;
}

ErrorKind KindOf(const absl::Status& status) {
  if (auto p = status.GetPayload(kKindPayload)) {
    std::string k(*p);
    if (k == "fault") return ErrorKind::kFault;
    if (k == "transient") return ErrorKind::kTransient;
    return ErrorKind::kPermanent;
  }
  switch (status.code()) {
    case absl::StatusCode::kDataLoss: return ErrorKind::kFault;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: return ErrorKind::kTransient;
    default: return ErrorKind::kPermanent;
  }
}

absl::string_view KindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kFault: return "fault";
    case ErrorKind::kTransient: return "transient";
    case ErrorKind::kPermanent: return "permanent";
  }
  return "permanent";
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
