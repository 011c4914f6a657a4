// The one definition of the error-propagation macros used across gatekeeper.
#ifndef GATEKEEPER_COMMON_STATUS_MACROS_H_
#define GATEKEEPER_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GK_CONCAT_INNER_(a, b) a##b
#define GK_CONCAT_(a, b) GK_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define GK_RETURN_IF_ERROR(expr)                                \
  do {                                                          \
    if (::absl::Status gk_status_ = (expr); !gk_status_.ok()) { \
      return gk_status_;                                        \
    }                                                           \
  } while (false)

// `GK_ASSIGN_OR_RETURN(auto x, Foo());` declares/assigns the value or returns the error.
#define GK_ASSIGN_OR_RETURN(lhs, expr) \
  GK_ASSIGN_OR_RETURN_IMPL_(GK_CONCAT_(gk_statusor_, __LINE__), lhs, expr)

// `lhs` is a declaration ("auto x"), so it cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define GK_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) {                                \
    return std::move(statusor).status();               \
  }                                                    \
  lhs = *std::move(statusor)
// NOLINTEND(bugprone-macro-parentheses)

#endif  // GATEKEEPER_COMMON_STATUS_MACROS_H_
