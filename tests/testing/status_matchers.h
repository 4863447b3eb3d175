// Status assertions (Abseil's own matchers arrive only in 20240722).
#ifndef KCOREFS_TESTS_TESTING_STATUS_MATCHERS_H_
#define KCOREFS_TESTS_TESTING_STATUS_MATCHERS_H_

#include <gtest/gtest.h>

#include "absl/status/statusor.h"
#include "kcorefs/base/status_macros.h"

#define KCOREFS_ASSERT_OK(expr)                                   \
  do {                                                            \
    auto _st = (expr);                                            \
    ASSERT_TRUE(_st.ok()) << _st;                                 \
  } while (0)

#define KCOREFS_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  KCOREFS_ASSERT_OK_AND_ASSIGN_IMPL_(KCOREFS_CONCAT_(_sor_, __LINE__), lhs, expr)
#define KCOREFS_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                       \
  ASSERT_TRUE(tmp.ok()) << tmp.status();                   \
  lhs = std::move(tmp).value()

#endif  // KCOREFS_TESTS_TESTING_STATUS_MATCHERS_H_
