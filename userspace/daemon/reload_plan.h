// What a reload changes, decided from the running and the new configuration alone, before
// anything is touched: which gates keep their listeners (and so their established connections),
// which only get new policies, which restart their service, and which are rebuilt.
#ifndef GATEKEEPER_DAEMON_RELOAD_PLAN_H_
#define GATEKEEPER_DAEMON_RELOAD_PLAN_H_

#include <string>
#include <vector>

#include "config/config.h"

namespace gatekeeper::daemon {

enum class GateChange {
  kUnchanged,
  kPolicy,     // only the access lists (its own or the host's): swap the filters in place
  kService,    // the service changed, the listeners did not: restart the service on them
  kListeners,  // what is listened on changed: stop the gate and build it again
  kAdded,
  kRemoved,
};

struct GatePlan {
  std::string name;
  GateChange change = GateChange::kUnchanged;
  // kPolicy is also set alongside kService: both are applied.
  bool policy_changed = false;
  std::string why;  // for the reload reply and the log, e.g. "ListenStream= changed"
};

struct ReloadPlan {
  std::vector<GatePlan> gates;  // sorted by name, every gate of both configurations
  bool host_lists_changed = false;
  bool control_group_changed = false;

  // One line per change ("gate web: service changed (ExecStart=): restarting it"); empty when
  // nothing changes.
  std::vector<std::string> Describe() const;
};

ReloadPlan PlanReload(const config::Config& running, const config::Config& next);

// Whether two lists hold the same entries from the same places (a moved line changes the rule
// names in logs and `explain`, so it counts as a change).
bool SameLists(const policy::AccessLists& a, const policy::AccessLists& b);

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_RELOAD_PLAN_H_
