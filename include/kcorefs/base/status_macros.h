// Status propagation macros. Debian 12's Abseil (20220623) has no ABSL_RETURN_IF_ERROR,
// so the project carries its own, spelled with the project prefix.
#ifndef KCOREFS_BASE_STATUS_MACROS_H_
#define KCOREFS_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KCOREFS_CONCAT_INNER_(a, b) a##b
#define KCOREFS_CONCAT_(a, b) KCOREFS_CONCAT_INNER_(a, b)

#define KCOREFS_RETURN_IF_ERROR(expr)              \
  do {                                             \
    ::absl::Status kcorefs_status_ = (expr);       \
    if (!kcorefs_status_.ok()) return kcorefs_status_; \
  } while (0)

#define KCOREFS_ASSIGN_OR_RETURN(lhs, expr) \
  KCOREFS_ASSIGN_OR_RETURN_IMPL_(KCOREFS_CONCAT_(kcorefs_statusor_, __LINE__), lhs, expr)

#define KCOREFS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#endif  // KCOREFS_BASE_STATUS_MACROS_H_
