// The daemon's state and its parts, shared by daemon.cc (start, run, stop, queries) and
// daemon_reload.cc (reload, retiring gates, crash recovery). Internal to gk_daemon.
#ifndef GATEKEEPER_DAEMON_DAEMON_STATE_H_
#define GATEKEEPER_DAEMON_DAEMON_STATE_H_

#include <sys/resource.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/cgroup_layout.h"
#include "daemon/control_server.h"
#include "daemon/daemon.h"
#include "daemon/denial_log.h"
#include "daemon/event_loop.h"
#include "daemon/gate.h"
#include "daemon/kernel_gate_system.h"
#include "daemon/metrics_http.h"
#include "daemon/reload_plan.h"
#include "daemon/service_supervisor.h"
#include "kernel/engine.h"
#include "net/link_watcher.h"
#include "nlohmann/json.hpp"
#include "policy/compiler.h"

namespace gatekeeper::daemon {

// journald reads the <N> priority prefix; plain stderr readers see it as text.
void Log(const std::string& line);

struct GateRuntime {
  config::GateConfig config;
  uint32_t id = 0;  // the socket scope's id; the service scope has id + 1
  // Never null; empty (allows everything) for a gate without a service.
  policy::SharedPolicy socket_policy = std::make_shared<const policy::CompiledPolicy>();
  policy::SharedPolicy service_policy = std::make_shared<const policy::CompiledPolicy>();
  std::unique_ptr<Gate> gate;
  std::unique_ptr<ServiceSupervisor> service;
  bool service_started = false;
};

// The scopes a gate needs (its socket's, and its service's if it has one), policies compiled.
struct GateScopes {
  uint32_t id = 0;
  kernel::ScopeSpec socket;
  policy::SharedPolicy socket_policy;
  std::optional<kernel::ScopeSpec> service;
  policy::SharedPolicy service_policy;
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options) : options_(std::move(options)) {}
  absl::Status Setup();
  absl::Status Run();

 private:
  // daemon.cc
  absl::StatusOr<config::Config> LoadConfig(std::vector<std::string>* errors) const;
  absl::Status EnsureScope(const kernel::ScopeSpec& spec, const policy::CompiledPolicy& policy);
  GateScopes PlanGateScopes(const config::GateConfig& gate, uint32_t id) const;
  absl::Status StartGate(const config::GateConfig& gate, uint32_t id);
  absl::Status StartGate(const config::GateConfig& gate, GateScopes scopes);
  std::unique_ptr<ServiceSupervisor> MakeSupervisor(const config::GateConfig& gate);
  void ReconcileAll();
  ControlReply HandleControl(const nlohmann::json& request);
  ControlReply StatusReply(const std::string& only) const;
  nlohmann::json Explain(const nlohmann::json& request);
  std::vector<GateStatus> CollectStatus(const std::string& only) const;
  std::string Metrics() const;
  void UpdateStatus();
  void Shutdown();
  void FinishShutdown();

  // daemon_reload.cc
  nlohmann::json Reload();
  // Puts `policy` (compiled from `lists`) in place for the host scope, or removes the scope
  // when the lists are empty.
  absl::Status ApplyHostLists(const policy::AccessLists& lists, const policy::SharedPolicy& policy);
  // What a gate's policy swaps gave when they were done ahead, all gates at once (unset: not
  // done ahead).
  struct SwapsDone {
    std::optional<absl::Status> socket;
    std::optional<absl::Status> service;
  };
  // Swaps in the gate's new policies (compiled from `next` merged with the host lists), or takes
  // the outcome of swaps already done.
  absl::Status SwapPolicies(GateRuntime& rt, const config::GateConfig& next,
                            policy::SharedPolicy socket_policy, policy::SharedPolicy service_policy,
                            const SwapsDone& done);
  // Ends the established TCP connections of the gate whose peer the new policy denies and the
  // old one allowed.
  void EndNewlyDeniedConnections(const std::string& gate, const std::string& scope,
                                 const policy::CompiledPolicy& before,
                                 const policy::CompiledPolicy& after);
  // Stops a service (SIGTERM, cgroup.kill after a grace period), waits for its cgroup to empty,
  // then runs `then` from the event loop.
  void StopService(std::unique_ptr<ServiceSupervisor> service, const std::string& gate,
                   std::function<void()> then);
  // Takes a gate out of service: its service stops, then its listeners close; with
  // `remove_filters` its scopes and cgroups go too (only once nothing of it can hold a socket).
  void RetireGate(const std::string& name, bool remove_filters, const std::function<void()>& then);
  // After a crash: the services a previous daemon left are killed before anything listens again
  // (their sockets hold the ports); pins of gates that are no longer configured are removed
  // once their cgroups are empty.
  absl::Status KillLeftoverServices();
  absl::Status RemoveUnconfiguredGates();
  uint32_t NextScopeId();

  DaemonOptions options_;
  // The soft RLIMIT_NOFILE the daemon started with, which its services get back; unset when it
  // could not raise its own (services then inherit that unchanged limit).
  std::optional<rlim_t> service_nofile_soft_limit_;
  config::Config config_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<kernel::Engine> engine_;
  std::unique_ptr<net::LinkWatcher> links_;
  std::unique_ptr<KernelGateSystem> system_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  std::unique_ptr<DenialLog> denials_;
  CgroupLayout layout_;
  std::map<std::string, GateRuntime> gates_;
  // Gates and services on their way out (reload); keyed by a serial number.
  struct Retiring {
    std::unique_ptr<ServiceSupervisor> service;
    std::optional<GateRuntime> gate;
    EventSource kill_timer;
    EventSource finish;
  };
  std::map<uint64_t, Retiring> retiring_;
  uint64_t next_retiring_ = 1;
  uint32_t next_scope_id_ = 2;  // 1 is the host scope
  std::vector<EventSource> sources_;
  EventSource shutdown_timer_;
  bool shutting_down_ = false;
  std::optional<absl::Time> link_event_at_;  // when the last netlink batch arrived
  std::string last_status_;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_DAEMON_STATE_H_
