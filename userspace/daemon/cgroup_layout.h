// Where the daemon's cgroups go: <base>/supervisor for the daemon itself (cgroup v2 allows no
// processes in a cgroup that has children), <base>/gates/<name>.socket and .service for gates.
#ifndef GATEKEEPER_DAEMON_CGROUP_LAYOUT_H_
#define GATEKEEPER_DAEMON_CGROUP_LAYOUT_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gatekeeper::daemon {

struct CgroupLayout {
  std::string base;
  // The cgroup the daemon was started in, before it moved into supervisor(): a graceful stop
  // returns there, so that supervisor() and the base can go.
  std::string origin;
  // The base was made by gatekeeper (this daemon, or an earlier one that was killed), not by the
  // operator: only then may a graceful stop remove it.
  bool base_is_ours = false;

  std::string supervisor() const { return base + "/supervisor"; }
  std::string gates() const { return base + "/gates"; }
  std::string socket(const std::string& gate) const { return gates() + "/" + gate + ".socket"; }
  std::string service(const std::string& gate) const { return gates() + "/" + gate + ".service"; }
};

// `requested` when given; else the daemon's own cgroup when systemd started it (INVOCATION_ID is
// set: the shipped unit has Delegate=yes, so the subtree is ours), else <cgroup2>/gatekeeper.
absl::StatusOr<std::string> ChooseCgroupBase(const std::string& cgroup2_mount,
                                             const std::string& requested);

// Records the daemon's cgroup in `layout.origin`, creates `layout.base` (or finds it, and whether
// it is ours) and supervisor(), and moves the daemon into supervisor().
absl::Status EnterSupervisor(const std::string& cgroup2_mount, CgroupLayout& layout,
                             const std::function<void(const std::string&)>& warn);

// The end of a graceful stop, once the gates' cgroups are gone: back to `layout.origin`, then
// supervisor() and (when ours) the base are removed. A daemon started inside its base stays where
// it is (systemd removes a unit's cgroup itself), and one whose origin has vanished stays in
// supervisor() with a warning.
absl::Status LeaveSupervisor(const CgroupLayout& layout,
                             const std::function<void(const std::string&)>& warn);

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_CGROUP_LAYOUT_H_
