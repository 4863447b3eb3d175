// Error helpers. Every failure a source can produce carries an ErrorKind payload, so
// callers decide by kind (retry, EIO, refuse) and never by message text (as drgn keeps
// faults apart from I/O errors):
//  - kFault: the address is not captured in the source (DataLoss + fault-address payload);
//  - kTransient: the transport failed but may recover (a dropped connection, a timeout);
//  - kPermanent: the source cannot give these bytes (a device error, a truncated file).
#ifndef KCOREFS_BASE_ERRORS_H_
#define KCOREFS_BASE_ERRORS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kcorefs::base {

enum class ErrorKind { kFault, kTransient, kPermanent };

// A read of `addr` failed because the source does not hold it.
absl::Status FaultError(uint64_t addr, absl::string_view what);
// The address carried by a FaultError, if any.
std::optional<uint64_t> FaultAddress(const absl::Status& status);
// errno converted at the call site, with the operation and object named. The kind is
// derived from errno: EAGAIN, EINTR, ETIMEDOUT, ECONNRESET, ECONNREFUSED, EPIPE, ENOTCONN,
// ESHUTDOWN, EHOSTUNREACH and ENETUNREACH are transient, the rest permanent.
absl::Status ErrnoError(int err, absl::string_view what);
// A transport failure that may recover: Unavailable, kind kTransient.
absl::Status TransientError(absl::string_view what);
// A deadline that passed: DeadlineExceeded, kind kTransient.
absl::Status DeadlineError(absl::string_view what);
// Sets (or replaces) the kind of a non-OK status.
absl::Status WithKind(absl::Status status, ErrorKind kind);
// The kind a status carries. A status without one is classified by code: DataLoss is a
// fault, Unavailable and DeadlineExceeded are transient, everything else permanent.
ErrorKind KindOf(const absl::Status& status);
absl::string_view KindName(ErrorKind kind);
// Prefixes a status message with context, keeping its code and payloads.
absl::Status Annotate(const absl::Status& status, absl::string_view context);
// "0x..." formatting used in every message that names an address or offset.
std::string Hex(uint64_t v);

}  // namespace kcorefs::base

#endif  // KCOREFS_BASE_ERRORS_H_
