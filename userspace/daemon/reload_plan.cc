#include "daemon/reload_plan.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gatekeeper::daemon {
namespace {

bool SameEntries(const policy::AddressList& a, const policy::AddressList& b) {
  const std::vector<policy::Entry>& x = a.entries();
  const std::vector<policy::Entry>& y = b.entries();
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].prefix.address != y[i].prefix.address || x[i].prefix.length != y[i].prefix.length ||
        x[i].token != y[i].token || x[i].origin.file != y[i].origin.file ||
        x[i].origin.line != y[i].origin.line || x[i].origin.key != y[i].origin.key ||
        x[i].origin.source != y[i].origin.source) {
      return false;
    }
  }
  return true;
}

template <typename T>
bool SameRef(const std::optional<T>& a, const std::optional<T>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->name == b->name);
}

// The keys whose change needs new listeners; empty when the listeners can stay.
std::vector<std::string> ListenerChanges(const config::SocketConfig& a,
                                         const config::SocketConfig& b) {
  std::vector<std::string> keys;
  if (a.listen != b.listen) keys.emplace_back("Listen*=");
  if (a.bind_to_device != b.bind_to_device) keys.emplace_back("BindToDevice=");
  if (a.bind_ipv6_only != b.bind_ipv6_only) keys.emplace_back("BindIPv6Only=");
  if (a.backlog != b.backlog) keys.emplace_back("Backlog=");
  if (a.reuse_port != b.reuse_port) keys.emplace_back("ReusePort=");
  if (a.free_bind != b.free_bind) keys.emplace_back("FreeBind=");
  // Ids as well as names: a renumbered user means a different owner of the socket file.
  if (!SameRef(a.socket_user, b.socket_user) ||
      (a.socket_user && a.socket_user->uid != b.socket_user->uid)) {
    keys.emplace_back("SocketUser=");
  }
  if (!SameRef(a.socket_group, b.socket_group) ||
      (a.socket_group && a.socket_group->gid != b.socket_group->gid)) {
    keys.emplace_back("SocketGroup=");
  }
  if (a.socket_mode != b.socket_mode) keys.emplace_back("SocketMode=");
  return keys;
}

// The keys whose change needs the service restarted on the same listeners.
std::vector<std::string> ServiceChanges(const config::GateConfig& a, const config::GateConfig& b) {
  std::vector<std::string> keys;
  if (a.socket.accept != b.socket.accept) keys.emplace_back("Accept=");
  if (a.socket.max_connections != b.socket.max_connections) keys.emplace_back("MaxConnections=");
  if (a.socket.max_connections_per_source != b.socket.max_connections_per_source) {
    keys.emplace_back("MaxConnectionsPerSource=");
  }
  if (a.socket.fd_name != b.socket.fd_name) keys.emplace_back("FileDescriptorName=");
  if (a.service.has_value() != b.service.has_value()) {
    keys.emplace_back(b.service ? "[Service] added" : "[Service] removed");
    return keys;
  }
  if (!a.service) return keys;
  const config::ServiceConfig& x = *a.service;
  const config::ServiceConfig& y = *b.service;
  if (x.exec_start != y.exec_start) keys.emplace_back("ExecStart=");
  if (!SameRef(x.user, y.user) || (x.user && x.user->uid != y.user->uid))
    keys.emplace_back("User=");
  if (!SameRef(x.group, y.group) || (x.group && x.group->gid != y.group->gid)) {
    keys.emplace_back("Group=");
  }
  if (x.environment != y.environment) keys.emplace_back("Environment=");
  if (x.working_directory != y.working_directory) keys.emplace_back("WorkingDirectory=");
  if (x.restart != y.restart) keys.emplace_back("Restart=");
  if (x.restart_sec != y.restart_sec) keys.emplace_back("RestartSec=");
  if (x.start != y.start) keys.emplace_back("Start=");
  if (x.standard_input != y.standard_input) keys.emplace_back("StandardInput=");
  return keys;
}

bool SameGateLists(const config::GateConfig& a, const config::GateConfig& b) {
  if (!SameLists(a.socket.lists, b.socket.lists)) return false;
  if (a.service.has_value() != b.service.has_value()) return false;
  return !a.service || SameLists(a.service->lists, b.service->lists);
}

}  // namespace

bool SameLists(const policy::AccessLists& a, const policy::AccessLists& b) {
  return SameEntries(a.allow, b.allow) && SameEntries(a.deny, b.deny);
}

ReloadPlan PlanReload(const config::Config& running, const config::Config& next) {
  ReloadPlan plan;
  plan.host_lists_changed = !SameLists(running.host.lists, next.host.lists);
  plan.control_group_changed = running.host.control_group != next.host.control_group;

  std::map<std::string, std::pair<const config::GateConfig*, const config::GateConfig*>> both;
  for (const config::GateConfig& g : running.gates) both[g.name].first = &g;
  for (const config::GateConfig& g : next.gates) both[g.name].second = &g;
  for (const auto& [name, pair] : both) {
    const auto [old_gate, new_gate] = pair;
    GatePlan p{.name = name};
    if (old_gate == nullptr) {
      p.change = GateChange::kAdded;
    } else if (new_gate == nullptr) {
      p.change = GateChange::kRemoved;
    } else if (std::vector<std::string> keys = ListenerChanges(old_gate->socket, new_gate->socket);
               !keys.empty()) {
      p.change = GateChange::kListeners;
      p.why = absl::StrJoin(keys, ", ");
    } else {
      p.policy_changed = plan.host_lists_changed || !SameGateLists(*old_gate, *new_gate);
      if (std::vector<std::string> keys = ServiceChanges(*old_gate, *new_gate); !keys.empty()) {
        p.change = GateChange::kService;
        p.why = absl::StrJoin(keys, ", ");
      } else if (p.policy_changed) {
        p.change = GateChange::kPolicy;
      }
    }
    plan.gates.push_back(std::move(p));
  }
  return plan;
}

std::vector<std::string> ReloadPlan::Describe() const {
  std::vector<std::string> lines;
  if (host_lists_changed) lines.emplace_back("host lists changed: every gate's filter is replaced");
  if (control_group_changed) lines.emplace_back("[Control] Group= changed");
  for (const GatePlan& g : gates) {
    switch (g.change) {
      case GateChange::kUnchanged:
        break;
      case GateChange::kPolicy:
        lines.emplace_back(
            absl::StrCat("gate ", g.name, ": access lists changed: filters swapped"));
        break;
      case GateChange::kService:
        lines.emplace_back(absl::StrCat("gate ", g.name, ": service changed (", g.why,
                                        "): restarted on the same listeners",
                                        g.policy_changed ? "; filters swapped" : ""));
        break;
      case GateChange::kListeners:
        lines.emplace_back(
            absl::StrCat("gate ", g.name, ": ", g.why, " changed: stopped and built again"));
        break;
      case GateChange::kAdded:
        lines.emplace_back(absl::StrCat("gate ", g.name, ": added"));
        break;
      case GateChange::kRemoved:
        lines.emplace_back(absl::StrCat("gate ", g.name, ": removed"));
        break;
    }
  }
  return lines;
}

}  // namespace gatekeeper::daemon
