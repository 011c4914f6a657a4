#include "daemon/gate_status.h"

namespace gatekeeper::daemon {

const char* GateStateName(GateState state) {
  switch (state) {
    case GateState::kWaitingDevice:
      return "waiting-device";
    case GateState::kWaitingAddress:
      return "waiting-address";
    case GateState::kListening:
      return "listening";
    case GateState::kRunning:
      return "running";
    case GateState::kFailed:
      return "failed";
  }
  return "unknown";
}

namespace {

nlohmann::json Counter(const kernel::Counter& c) {
  return {{"packets", c.packets}, {"bytes", c.bytes}};
}

nlohmann::json Direction(const kernel::ScopeStats& s, int d) {
  return {{"allowed", Counter(s.allowed[d])}, {"denied", Counter(s.denied[d])}};
}

}  // namespace

nlohmann::json ToJson(const GateStatus& gate) {
  const kernel::ScopeStats& s = gate.socket_counters;
  return {
      {"name", gate.name},
      {"state", GateStateName(gate.state)},
      {"reason", gate.reason},
      {"device", gate.device},
      {"ifindex", gate.ifindex},
      {"listen", gate.listen},
      {"service",
       {{"state", gate.service.state},
        {"pid", gate.service.pid},
        {"restarts", gate.service.restarts},
        {"connections", gate.service.connections}}},
      {"counters", {{"ingress", Direction(s, 0)}, {"egress", Direction(s, 1)}}},
      // Bare TCP resets let out to denied peers (connections ended by a reload).
      {"resets_to_denied", Counter(s.rst_passed)},
      {"foreign_programs", gate.foreign_programs},
      {"events",
       {{"sent", s.events_sent}, {"suppressed", s.events_suppressed}, {"lost", s.events_lost}}},
  };
}

}  // namespace gatekeeper::daemon
