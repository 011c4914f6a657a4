// Where the daemon's cgroups go: <base>/supervisor for the daemon itself (cgroup v2 allows no
// processes in a cgroup that has children), <base>/gates/<name>.socket and .service for gates.
#ifndef GATEKEEPER_DAEMON_CGROUP_LAYOUT_H_
#define GATEKEEPER_DAEMON_CGROUP_LAYOUT_H_

#include <string>

#include "absl/status/statusor.h"

namespace gatekeeper::daemon {

struct CgroupLayout {
  std::string base;
  std::string supervisor() const { return base + "/supervisor"; }
  std::string gates() const { return base + "/gates"; }
  std::string socket(const std::string& gate) const { return gates() + "/" + gate + ".socket"; }
  std::string service(const std::string& gate) const { return gates() + "/" + gate + ".service"; }
};

// `requested` when given; else the daemon's own cgroup when systemd started it (INVOCATION_ID is
// set: the shipped unit has Delegate=yes, so the subtree is ours), else <cgroup2>/gatekeeper.
absl::StatusOr<std::string> ChooseCgroupBase(const std::string& cgroup2_mount,
                                             const std::string& requested);

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_CGROUP_LAYOUT_H_
