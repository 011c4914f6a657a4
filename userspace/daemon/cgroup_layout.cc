#include "daemon/cgroup_layout.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernel/cgroup.h"

namespace gatekeeper::daemon {

absl::StatusOr<std::string> ChooseCgroupBase(const std::string& cgroup2_mount,
                                             const std::string& requested) {
  if (!requested.empty()) {
    if (!absl::StartsWith(requested, cgroup2_mount + "/")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--cgroup-base ", requested, " is not below the cgroup v2 mount ", cgroup2_mount));
    }
    return requested;
  }
  if (std::getenv("INVOCATION_ID") != nullptr) {
    GK_ASSIGN_OR_RETURN(std::string own, kernel::CgroupOfProcess(cgroup2_mount, 0));
    // Restarted by systemd after a crash we may already sit in our own supervisor cgroup.
    if (absl::EndsWith(own, "/supervisor"))
      own.resize(own.size() - std::string("/supervisor").size());
    if (own != cgroup2_mount) return own;
  }
  return absl::StrCat(cgroup2_mount, "/gatekeeper");
}

}  // namespace gatekeeper::daemon
