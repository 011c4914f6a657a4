// Reload, retiring gates, and recovery from a crashed predecessor.
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/run_at_once.h"
#include "common/status_macros.h"
#include "daemon/daemon_state.h"
#include "kernel/cgroup.h"
#include "kernel/policy_tries.h"
#include "kernel/sock_destroy.h"

namespace gatekeeper::daemon {
namespace {

constexpr absl::Duration kStopGrace = absl::Seconds(5);

std::optional<policy::Address> PolicyAddressOf(const common::SocketAddress& a) {
  policy::Address out;
  if (a.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(a.get());
    std::memcpy(out.bytes.data(), &in->sin_addr, 4);
    return out;
  }
  if (a.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.get());
    out.family = policy::Family::kIPv6;
    std::memcpy(out.bytes.data(), &in6->sin6_addr, 16);
    // A dual-stack listener's IPv4 peers are matched by their IPv4 address, as the kernel does.
    return policy::PeerAsSeenByKernel(out);
  }
  return std::nullopt;
}

}  // namespace

absl::Status Daemon::ApplyHostLists(const policy::AccessLists& lists,
                                    const policy::SharedPolicy& policy) {
  const bool wanted = !lists.allow.empty() || !lists.deny.empty();
  if (kernel::Scope* scope = engine_->FindScope("host")) {
    if (wanted) {
      GK_RETURN_IF_ERROR(scope->ReplacePolicy(*policy));
      denials_->AddScope(1, "host", "host", policy);
      return absl::OkStatus();
    }
    Log("<5>host lists are empty now: the host filter is removed");
    return engine_->RemoveScope("host");
  }
  if (!wanted) return absl::OkStatus();
  kernel::ScopeSpec host;
  host.name = "host";
  host.id = 1;
  host.cgroup_path = options_.host_cgroup.empty() ? engine_->cgroup2_mount() : options_.host_cgroup;
  host.host = true;
  host.gates_cgroup_path = layout_.gates();
  GK_RETURN_IF_ERROR(engine_->AttachScope(host, *policy).status());
  denials_->AddScope(1, "host", "host", policy);
  return absl::OkStatus();
}

void Daemon::EndNewlyDeniedConnections(const std::string& gate, const std::string& scope_name,
                                       const policy::CompiledPolicy& before,
                                       const policy::CompiledPolicy& after) {
  kernel::Scope* scope = engine_->FindScope(scope_name);
  if (scope == nullptr) return;
  absl::StatusOr<size_t> ended = kernel::DestroyTcpSockets(
      scope->cgroup_id(), [&](const common::SocketAddress&, const common::SocketAddress& peer) {
        const std::optional<policy::Address> a = PolicyAddressOf(peer);
        return a && policy::Evaluate(before, *a).action == policy::Action::kAllow &&
               policy::Evaluate(after, *a).action == policy::Action::kDeny;
      });
  if (!ended.ok()) {
    Log(absl::StrCat("<3>gate ", gate, ": cannot end the connections of newly denied peers: ",
                     ended.status().message()));
  } else if (*ended > 0) {
    Log(absl::StrCat("<5>gate ", gate, ": ended ", *ended,
                     " established connection(s) of peers the new lists deny"));
  }
}

absl::Status Daemon::SwapPolicies(GateRuntime& rt, const config::GateConfig& next,
                                  policy::SharedPolicy socket_policy,
                                  policy::SharedPolicy service_policy, const SwapsDone& done) {
  const std::string& name = next.name;
  kernel::Scope* socket_scope = engine_->FindScope(name + ".socket");
  if (socket_scope == nullptr) {
    return absl::InternalError(absl::StrCat("gate ", name, ": no scope"));
  }
  GK_RETURN_IF_ERROR(done.socket ? *done.socket : socket_scope->ReplacePolicy(*socket_policy));
  EndNewlyDeniedConnections(name, name + ".socket", *rt.socket_policy, *socket_policy);
  denials_->AddScope(rt.id, name, "socket", socket_policy);
  rt.socket_policy = std::move(socket_policy);

  if (!next.service) return absl::OkStatus();
  if (kernel::Scope* scope = engine_->FindScope(name + ".service")) {
    GK_RETURN_IF_ERROR(done.service ? *done.service : scope->ReplacePolicy(*service_policy));
    EndNewlyDeniedConnections(name, name + ".service", *rt.service_policy, *service_policy);
  } else {
    kernel::ScopeSpec spec;
    spec.name = name + ".service";
    spec.id = rt.id + 1;
    spec.cgroup_path = layout_.service(name);
    GK_RETURN_IF_ERROR(engine_->AttachScope(spec, *service_policy).status());
  }
  denials_->AddScope(rt.id + 1, name, "service", service_policy);
  rt.service_policy = std::move(service_policy);
  return absl::OkStatus();
}

void Daemon::StopService(std::unique_ptr<ServiceSupervisor> service, const std::string& gate,
                         std::function<void()> then) {
  const uint64_t key = next_retiring_++;
  Retiring& r = retiring_[key];
  r.service = std::move(service);
  const std::string cgroup = layout_.service(gate);
  auto kill = [cgroup] {
    if (auto cg = kernel::Cgroup::Open(cgroup); cg.ok()) (void)cg->KillAll();
  };
  auto finish = [this, key, gate, cgroup, kill, then = std::move(then)] {
    // Runs from the supervisor's own callback: let the loop come back before destroying it.
    auto timer = loop_->AddTimer(absl::ZeroDuration(), [this, key, gate, cgroup, kill, then] {
      kill();  // stragglers the main process left behind
      if (auto cg = kernel::Cgroup::Open(cgroup); cg.ok()) {
        if (absl::Status s = cg->WaitEmpty(absl::Seconds(2)); !s.ok()) {
          Log(absl::StrCat("<3>gate ", gate, ": ", s.message()));
        }
      }
      const std::function<void()> next = then;  // the node owns this closure's source
      auto node = retiring_.extract(key);
      next();
    });
    if (timer.ok()) {
      retiring_[key].finish = *std::move(timer);
    } else {
      Log(absl::StrCat("<3>gate ", gate, ": ", timer.status().message()));
    }
  };
  if (r.service) {
    auto timer = loop_->AddTimer(kStopGrace, [gate, kill] {
      Log(absl::StrCat("<4>gate ", gate, ": service did not stop within 5 s: killing it"));
      kill();
    });
    if (timer.ok()) r.kill_timer = *std::move(timer);
    r.service->Stop(finish);
  } else {
    finish();
  }
}

void Daemon::RetireGate(const std::string& name, bool remove_filters,
                        const std::function<void()>& then) {
  auto it = gates_.find(name);
  if (it == gates_.end()) {
    then();
    return;
  }
  GateRuntime rt = std::move(it->second);
  gates_.erase(it);
  std::unique_ptr<ServiceSupervisor> service = std::move(rt.service);
  const uint64_t key = next_retiring_++;
  retiring_[key].gate = std::move(rt);
  StopService(std::move(service), name, [this, key, name, remove_filters, then] {
    // The service is gone: closing the listeners now leaves no socket in the gate's cgroups.
    retiring_.erase(key);
    if (remove_filters) {
      for (const std::string& scope : {name + ".socket", name + ".service"}) {
        if (engine_->FindScope(scope) == nullptr) continue;
        if (absl::Status s = engine_->RemoveScope(scope); !s.ok()) {
          Log(absl::StrCat("<3>gate ", name, ": ", s.message()));
        }
      }
      for (const std::string& cg : {layout_.socket(name), layout_.service(name)}) {
        if (absl::Status s = kernel::RemoveCgroupTree(cg); !s.ok()) {
          Log(absl::StrCat("<3>gate ", name, ": ", s.message()));
        }
      }
      Log(absl::StrCat("<6>gate ", name, ": removed"));
    }
    then();
  });
}

nlohmann::json Daemon::Reload() {
  // Last, once the previous configuration and the policies compiled on the way are freed: the
  // free heap pages they leave would otherwise stay resident (0.2 MiB for 100 gates).
  absl::Cleanup trim = [] { ::malloc_trim(0); };
  if (shutting_down_) return {{"error", "gatekeeper is stopping"}};
  if (!retiring_.empty()) {
    return {{"error",
             "the previous reload is still stopping services; nothing was changed, try again"}};
  }
  std::vector<std::string> errors;
  absl::StatusOr<config::Config> next = LoadConfig(&errors);
  if (!next.ok()) {
    Log(absl::StrCat("<3>reload refused, nothing was changed: ", next.status().message()));
    return {{"error", absl::StrCat("the configuration has errors; nothing was changed:\n",
                                   absl::StrJoin(errors, "\n"))},
            {"errors", errors}};
  }
  // Pins removed from outside are restored first: without them the filters would not outlive
  // this daemon.
  std::vector<std::string> repaired;
  if (absl::StatusOr<std::vector<std::string>> paths = engine_->RepairPins(); !paths.ok()) {
    Log(absl::StrCat("<3>reload: cannot restore removed pins: ", paths.status().message()));
  } else {
    for (const std::string& path : *paths) {
      repaired.push_back(absl::StrCat("pinned ", path, " again (it had been removed)"));
      Log(absl::StrCat("<4>", repaired.back()));
    }
  }

  const ReloadPlan plan = PlanReload(config_, *next);
  // Every new policy is compiled and checked against the trie size before anything changes: a
  // policy that cannot fit refuses the whole reload.
  std::map<std::string, std::pair<policy::SharedPolicy, policy::SharedPolicy>> compiled;
  std::vector<std::string> too_big;
  policy::SharedPolicy host_policy;
  if (plan.host_lists_changed) {
    host_policy = policy::Share(policy::Compile(next->host.lists));
    if (absl::Status s = kernel::CheckPolicyFits(*host_policy, "host"); !s.ok()) {
      too_big.emplace_back(s.message());
    }
  }
  std::map<std::string, const GatePlan*> plan_of;
  for (const GatePlan& p : plan.gates) plan_of[p.name] = &p;
  for (const config::GateConfig& g : next->gates) {
    const GatePlan* p = plan_of.contains(g.name) ? plan_of[g.name] : nullptr;
    if (p == nullptr || p->change == GateChange::kUnchanged ||
        ((p->change == GateChange::kPolicy || p->change == GateChange::kService) &&
         !p->policy_changed)) {
      continue;
    }
    const policy::AccessLists* socket_lists[] = {&next->host.lists, &g.socket.lists};
    auto& [socket_policy, service_policy] = compiled[g.name];
    socket_policy = policy::Share(policy::Compile(socket_lists));
    if (absl::Status s = kernel::CheckPolicyFits(*socket_policy, g.name + ".socket"); !s.ok()) {
      too_big.emplace_back(s.message());
    }
    if (g.service) {
      const policy::AccessLists* service_lists[] = {&next->host.lists, &g.service->lists};
      service_policy = policy::Share(policy::Compile(service_lists));
      if (absl::Status s = kernel::CheckPolicyFits(*service_policy, g.name + ".service"); !s.ok()) {
        too_big.emplace_back(s.message());
      }
    }
  }
  if (!too_big.empty()) {
    Log(absl::StrCat("<3>reload refused, nothing was changed: ", absl::StrJoin(too_big, "; ")));
    return {{"error", absl::StrCat("a policy does not fit; nothing was changed:\n",
                                   absl::StrJoin(too_big, "\n"))},
            {"errors", too_big}};
  }

  std::vector<std::string> failures;
  std::set<std::string> failed_gates;
  bool host_failed = false;
  auto fail = [&failures](const std::string& what, const absl::Status& s) {
    failures.push_back(absl::StrCat(what, ": ", s.message()));
    Log(absl::StrCat("<3>reload: ", what, ": ", s.message()));
  };

  config::Config previous = std::move(config_);
  config_ = *std::move(next);
  if (plan.host_lists_changed) {
    if (absl::Status s = ApplyHostLists(config_.host.lists, host_policy); !s.ok()) {
      fail("host lists", s);
      host_failed = true;
    }
  }
  if (plan.control_group_changed && control_) {
    if (absl::Status s = control_->SetGroup(config_.host.control_group); !s.ok()) {
      fail("[Control] Group=", s);
      config_.host.control_group = previous.host.control_group;
    }
  }
  std::map<std::string, const config::GateConfig*> wanted;
  for (const config::GateConfig& g : config_.gates) wanted[g.name] = &g;

  // The policy swaps of all changed gates go at once: each ends with RCU grace periods, and a
  // change of the host lists changes every gate (100 gates took 2.9 s one after the other). A
  // gate's socket scope goes first and a failed socket swap leaves its service scope alone, as
  // before; a service scope still to be made is left to SwapPolicies.
  std::map<std::string, SwapsDone> swaps_done;
  {
    struct Job {
      kernel::Scope* socket;
      const policy::CompiledPolicy* socket_policy;
      kernel::Scope* service;
      const policy::CompiledPolicy* service_policy;
      SwapsDone* done;
    };
    std::vector<Job> jobs;
    for (const GatePlan& p : plan.gates) {
      if ((p.change != GateChange::kPolicy && p.change != GateChange::kService) ||
          !p.policy_changed || !wanted.contains(p.name)) {
        continue;
      }
      kernel::Scope* socket = engine_->FindScope(p.name + ".socket");
      auto policies = compiled.find(p.name);
      if (socket == nullptr || policies == compiled.end()) continue;
      const auto& [socket_policy, service_policy] = policies->second;
      kernel::Scope* service =
          wanted[p.name]->service ? engine_->FindScope(p.name + ".service") : nullptr;
      jobs.push_back(
          {socket, socket_policy.get(), service, service_policy.get(), &swaps_done[p.name]});
    }
    common::RunAtOnce(jobs.size(), common::kWaitingThreads, [&jobs](size_t i) {
      const Job& job = jobs[i];
      job.done->socket = job.socket->ReplacePolicy(*job.socket_policy);
      if (job.done->socket->ok() && job.service != nullptr) {
        job.done->service = job.service->ReplacePolicy(*job.service_policy);
      }
    });
  }

  for (const GatePlan& p : plan.gates) {
    const config::GateConfig* g = wanted.contains(p.name) ? wanted[p.name] : nullptr;
    switch (p.change) {
      case GateChange::kUnchanged:
        break;
      case GateChange::kPolicy:
      case GateChange::kService: {
        GateRuntime& rt = gates_.at(p.name);
        if (p.policy_changed) {
          auto& [socket_policy, service_policy] = compiled[p.name];
          if (absl::Status s = SwapPolicies(rt, *g, std::move(socket_policy),
                                            std::move(service_policy), swaps_done[p.name]);
              !s.ok()) {
            fail("gate " + p.name, s);
            failed_gates.insert(p.name);
            break;  // the gate keeps running as it was, and so does its recorded configuration
          }
        }
        rt.config = *g;
        if (p.change == GateChange::kService) {
          rt.service_started = false;
          const std::string name = p.name;
          StopService(std::move(rt.service), name, [this, name] {
            auto it = gates_.find(name);
            if (it == gates_.end()) return;
            it->second.service = MakeSupervisor(it->second.config);
            ReconcileAll();
          });
        }
        break;
      }
      case GateChange::kRemoved:
        RetireGate(p.name, /*remove_filters=*/true, [] {});
        break;
      case GateChange::kListeners: {
        const uint32_t id = gates_.at(p.name).id;
        const std::string name = p.name;
        // The scopes stay (with the new lists at once); the gate and its service are rebuilt.
        RetireGate(name, /*remove_filters=*/false, [this, name, id] {
          for (auto it = config_.gates.begin(); it != config_.gates.end(); ++it) {
            if (it->name != name) continue;
            if (absl::Status s = StartGate(*it, id); !s.ok()) {
              Log(absl::StrCat("<3>reload: gate ", name, ": ", s.message()));
              // Not running, so not recorded either: the next reload tries it again.
              config_.gates.erase(it);
            }
            break;
          }
          ReconcileAll();
        });
        break;
      }
      case GateChange::kAdded:
        if (absl::Status s = StartGate(*g, NextScopeId()); !s.ok()) {
          fail("gate " + p.name, s);
          failed_gates.insert(p.name);
        }
        break;
    }
  }

  // What was not applied is not recorded as running: the next reload sees it as a change again.
  if (host_failed) config_.host.lists = previous.host.lists;
  if (!failed_gates.empty()) {
    std::vector<config::GateConfig> recorded;
    for (config::GateConfig& g : config_.gates) {
      if (!failed_gates.contains(g.name)) {
        recorded.push_back(std::move(g));
        continue;
      }
      for (config::GateConfig& old : previous.gates) {
        if (old.name == g.name) recorded.push_back(std::move(old));
      }
    }
    config_.gates = std::move(recorded);
  }
  std::vector<std::string> changes = std::move(repaired);
  for (const std::string& line : plan.Describe()) {
    const bool failed =
        (host_failed && line.starts_with("host lists")) ||
        std::any_of(failed_gates.begin(), failed_gates.end(), [&](const std::string& name) {
          return line.starts_with(absl::StrCat("gate ", name, ": "));
        });
    if (!failed) changes.push_back(line);
  }
  ReconcileAll();
  Log(absl::StrCat("<6>reloaded: ", changes.empty() ? std::string("nothing changed")
                                                    : absl::StrJoin(changes, "; ")));
  nlohmann::json reply = {{"changes", changes}};
  if (!failures.empty()) {
    reply["error"] = absl::StrCat("not everything could be applied (the rest was):\n",
                                  absl::StrJoin(failures, "\n"));
    reply["errors"] = failures;
  }
  return reply;
}

absl::Status Daemon::KillLeftoverServices() {
  for (const std::string& path : kernel::ChildCgroups(layout_.gates())) {
    GK_ASSIGN_OR_RETURN(kernel::Cgroup cg, kernel::Cgroup::Open(path));
    if (cg.WaitEmpty(absl::ZeroDuration()).ok()) continue;
    Log(absl::StrCat("<5>", path,
                     ": processes of a previous gatekeeper are still running; killing them "
                     "before listening again"));
    GK_RETURN_IF_ERROR(cg.KillAll());
    GK_RETURN_IF_ERROR(cg.WaitEmpty(kStopGrace));
  }
  return absl::OkStatus();
}

absl::Status Daemon::RemoveUnconfiguredGates() {
  GK_ASSIGN_OR_RETURN(std::vector<std::string> removed, engine_->RemoveUnclaimedScopes());
  for (const std::string& name : removed) {
    Log(absl::StrCat("<5>removed the filter ", name,
                     " a previous gatekeeper left: not configured"));
  }
  for (const std::string& path : kernel::ChildCgroups(layout_.gates())) {
    const std::string base = path.substr(path.rfind('/') + 1);
    const size_t dot = base.rfind('.');
    const std::string gate = dot == std::string::npos ? base : base.substr(0, dot);
    if (gates_.contains(gate)) continue;
    GK_RETURN_IF_ERROR(kernel::RemoveCgroupTree(path));
  }
  return absl::OkStatus();
}

}  // namespace gatekeeper::daemon
