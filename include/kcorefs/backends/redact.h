// `-o redact=user`: a Backend decorator that serves any source with its user pages
// (anonymous, page cache, swap cache, hugetlb) and free pages cut out of the physical
// map, as holes (kernel/page_classifier.h says how a page is told). Generic over
// backends: it sees only snapshots. docs/security.md, "Redaction", is the user's account.
//
// Immutable bytes: every page is classified once per epoch (at mount), in batches of
// struct pages bounded by the source's RAM. Volatile bytes (a live kernel): the same
// classification at mount gives the holes, and every read is checked again against the
// struct pages read after the data; a page that has become a user or free page since is
// served as zeros (never a tenant's bytes). A page that was a user page at mount stays a
// hole even if the kernel has taken it back since.
#ifndef KCOREFS_BACKENDS_REDACT_H_
#define KCOREFS_BACKENDS_REDACT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "kcorefs/backends/backend.h"

namespace kcorefs::backends {

// Wraps `inner`, classifying its current snapshot now: fails (FailedPrecondition naming
// the missing VMCOREINFO entry, or the read error) rather than serve unredacted bytes.
absl::StatusOr<std::unique_ptr<Backend>> NewRedactingBackend(std::unique_ptr<Backend> inner);

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_REDACT_H_
