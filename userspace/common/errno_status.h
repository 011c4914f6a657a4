// Builds absl::Status values from errno with the context the guide asks for: what failed, on
// which object, and the errno text.
#ifndef GATEKEEPER_COMMON_ERRNO_STATUS_H_
#define GATEKEEPER_COMMON_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gatekeeper::common {

// `what` describes the operation and its object, e.g. "open /sys/fs/cgroup/x". `err` is an errno
// value (positive; libbpf's negative returns are accepted too).
absl::Status ErrnoStatus(int err, absl::string_view what);

// Maps errno to the closest absl code so callers can tell "missing" from "forbidden".
absl::StatusCode ErrnoToCode(int err);

}  // namespace gatekeeper::common

#endif  // GATEKEEPER_COMMON_ERRNO_STATUS_H_
