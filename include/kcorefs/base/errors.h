// Error helpers. Two kinds of failure are kept apart (as drgn does):
//  - a fault: the address is not captured in the source (DataLoss + fault-address payload);
//  - an I/O or transport failure: errno-derived, Unavailable or DeadlineExceeded.
#ifndef KCOREFS_BASE_ERRORS_H_
#define KCOREFS_BASE_ERRORS_H_

#include <cstdint>
#include <optional>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace kcorefs::base {

// A read of `addr` failed because the source does not hold it.
absl::Status FaultError(uint64_t addr, absl::string_view what);
// The address carried by a FaultError, if any.
std::optional<uint64_t> FaultAddress(const absl::Status& status);
// errno converted at the call site, with the operation and object named.
absl::Status ErrnoError(int err, absl::string_view what);
// Prefixes a status message with context, keeping its code and payloads.
absl::Status Annotate(const absl::Status& status, absl::string_view context);
// "0x..." formatting used in every message that names an address or offset.
std::string Hex(uint64_t v);

}  // namespace kcorefs::base

#endif  // KCOREFS_BASE_ERRORS_H_
