// What `gatekeeper status` shows of a gate, and its JSON form. The JSON field names are a
// contract (README "Status JSON"): add fields, never rename them.
#ifndef GATEKEEPER_DAEMON_GATE_STATUS_H_
#define GATEKEEPER_DAEMON_GATE_STATUS_H_

#include <optional>
#include <string>
#include <vector>

#include "kernel/scope.h"
#include "nlohmann/json.hpp"

namespace gatekeeper::daemon {

enum class GateState { kWaitingDevice, kWaitingAddress, kListening, kRunning, kFailed };
const char* GateStateName(GateState state);  // "waiting-device", …

struct ServiceStatus {
  std::string state = "none";  // none, stopped, starting, running, restarting, failed
  int pid = 0;
  int restarts = 0;
  int connections = 0;  // Accept=yes: live per-connection processes
};

struct GateStatus {
  std::string name;
  GateState state = GateState::kWaitingDevice;
  std::string reason;  // why waiting or failed
  std::string device;  // BindToDevice=, empty if none
  int ifindex = 0;     // current, 0 while away
  std::vector<std::string> listen;
  ServiceStatus service;
  kernel::ScopeStats socket_counters;
  // Programs of others that also act on the gate's sockets ("name (id N, ingress)"): they can
  // drop what the gate allows. systemd's own firewall (sd_fw_*) is listed too.
  std::vector<std::string> foreign_programs;
};

nlohmann::json ToJson(const GateStatus& gate);

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_GATE_STATUS_H_
