#include "daemon/cgroup_layout.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernel/cgroup.h"

namespace gatekeeper::daemon {

namespace {

// Set on a base gatekeeper made. A daemon restarted after a SIGKILL finds the base already there;
// the mark tells it that the base is still gatekeeper's to remove, not an operator's.
constexpr char kMadeByGatekeeper[] = "trusted.gatekeeper.made";

bool Inside(const std::string& path, const std::string& dir) {
  return path == dir || absl::StartsWith(path, dir + "/");
}

}  // namespace

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
    if (absl::EndsWith(own, "/supervisor")) {
      own.resize(own.size() - std::string("/supervisor").size());
    }
    if (own != cgroup2_mount) return own;
  }
  return absl::StrCat(cgroup2_mount, "/gatekeeper");
}

absl::Status EnterSupervisor(const std::string& cgroup2_mount, CgroupLayout& layout,
                             const std::function<void(const std::string&)>& warn) {
  GK_ASSIGN_OR_RETURN(layout.origin, kernel::CgroupOfProcess(cgroup2_mount, 0));
  bool made = false;
  GK_ASSIGN_OR_RETURN(kernel::Cgroup base, kernel::Cgroup::CreateOrOpen(layout.base, &made));
  if (made) {
    layout.base_is_ours = true;
    if (absl::Status s = base.SetXattr(kMadeByGatekeeper, "1"); !s.ok()) {
      warn(absl::StrCat(s.message(), "; if this daemon is killed, the next one will not remove ",
                        layout.base, " when it stops"));
    }
  } else if (absl::StatusOr<bool> marked = base.HasXattr(kMadeByGatekeeper); marked.ok()) {
    layout.base_is_ours = *marked;
  } else {
    warn(absl::StrCat(marked.status().message(), "; ", layout.base,
                      " is taken to be the operator's and stays when the daemon stops"));
  }
  GK_ASSIGN_OR_RETURN(kernel::Cgroup supervisor, kernel::Cgroup::CreateOrOpen(layout.supervisor()));
  return supervisor.AddProcess(0);
}

absl::Status LeaveSupervisor(const CgroupLayout& layout,
                             const std::function<void(const std::string&)>& warn) {
  // Under systemd the base is the unit's own cgroup (and after a restart the daemon even starts
  // in supervisor): systemd removes that whole subtree once the unit has stopped, and there is
  // nowhere else that is ours to go to.
  if (Inside(layout.origin, layout.base)) return absl::OkStatus();
  // The origin may have children by now (the base itself may lie below it). cgroup v2 still
  // lets a process join it unless it enables a controller in cgroup.subtree_control; gatekeeper
  // enables none, and the origin enabled none while the daemon was in it, so a failure here means
  // someone changed it meanwhile, which the error then shows.
  absl::StatusOr<kernel::Cgroup> origin = kernel::Cgroup::Open(layout.origin);
  absl::Status moved = origin.ok() ? origin->AddProcess(0) : origin.status();
  if (!moved.ok()) {
    std::error_code ec;
    if (!std::filesystem::exists(layout.origin, ec) && !ec) {
      // Not worth failing a stop that has removed everything else: the filters are gone.
      warn(absl::StrCat("the cgroup the daemon was started in, ", layout.origin,
                        ", no longer exists: leaving ", layout.supervisor(), " behind"));
      return absl::OkStatus();
    }
    return {moved.code(),
            absl::StrCat("cannot return from ", layout.supervisor(), ": ", moved.message())};
  }
  GK_RETURN_IF_ERROR(kernel::RemoveCgroupTree(layout.supervisor()));
  if (!layout.base_is_ours) return absl::OkStatus();
  // Gates and supervisor are gone; anything else in the base was put there by someone else.
  if (const std::vector<std::string> others = kernel::ChildCgroups(layout.base); !others.empty()) {
    warn(absl::StrCat("leaving ", layout.base,
                      " in place: it holds cgroups gatekeeper did not make (",
                      absl::StrJoin(others, ", "), ")"));
    return absl::OkStatus();
  }
  return kernel::RemoveCgroupTree(layout.base);
}

}  // namespace gatekeeper::daemon
