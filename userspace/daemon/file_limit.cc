#include "daemon/file_limit.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace gatekeeper::daemon {

absl::StatusOr<rlim_t> RaiseFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return common::ErrnoStatus(errno, "getrlimit RLIMIT_NOFILE");
  }
  const rlim_t original = limit.rlim_cur;
  if (original >= limit.rlim_max) return original;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return common::ErrnoStatus(errno, absl::StrCat("raise the soft RLIMIT_NOFILE from ", original,
                                                   " to the hard limit ", limit.rlim_max));
  }
  return original;
}

}  // namespace gatekeeper::daemon
