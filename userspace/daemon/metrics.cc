#include "daemon/metrics.h"

#include "absl/strings/str_cat.h"

namespace gatekeeper::daemon {
namespace {

// Label values escape backslash, double quote and newline (exposition format rules).
std::string Label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void Header(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

std::string RenderMetrics(const std::vector<GateStatus>& gates, uint64_t netlink_resyncs,
                          const std::map<std::string, DenialCounters>& denials) {
  auto denial_counters = [&denials](const std::string& gate) {
    auto it = denials.find(gate);
    return it == denials.end() ? DenialCounters{} : it->second;
  };
  std::string out;
  const char* directions[] = {"ingress", "egress"};
  Header(out, "gatekeeper_packets_total", "counter",
         "Packets judged by a gate's socket filter, by direction and verdict.");
  for (const GateStatus& g : gates) {
    for (int d = 0; d < 2; ++d) {
      absl::StrAppend(&out, "gatekeeper_packets_total{gate=\"", Label(g.name), "\",direction=\"",
                      directions[d], "\",verdict=\"allowed\"} ",
                      g.socket_counters.allowed[d].packets, "\n");
      absl::StrAppend(&out, "gatekeeper_packets_total{gate=\"", Label(g.name), "\",direction=\"",
                      directions[d], "\",verdict=\"denied\"} ", g.socket_counters.denied[d].packets,
                      "\n");
    }
  }
  Header(out, "gatekeeper_bytes_total", "counter",
         "Bytes judged by a gate's socket filter, by direction and verdict.");
  for (const GateStatus& g : gates) {
    for (int d = 0; d < 2; ++d) {
      absl::StrAppend(&out, "gatekeeper_bytes_total{gate=\"", Label(g.name), "\",direction=\"",
                      directions[d], "\",verdict=\"allowed\"} ", g.socket_counters.allowed[d].bytes,
                      "\n");
      absl::StrAppend(&out, "gatekeeper_bytes_total{gate=\"", Label(g.name), "\",direction=\"",
                      directions[d], "\",verdict=\"denied\"} ", g.socket_counters.denied[d].bytes,
                      "\n");
    }
  }
  Header(out, "gatekeeper_gate_state", "gauge", "1 for the state each gate is in, 0 otherwise.");
  for (const GateStatus& g : gates) {
    for (GateState s : {GateState::kWaitingDevice, GateState::kWaitingAddress,
                        GateState::kListening, GateState::kRunning, GateState::kFailed}) {
      absl::StrAppend(&out, "gatekeeper_gate_state{gate=\"", Label(g.name), "\",state=\"",
                      GateStateName(s), "\"} ", g.state == s ? 1 : 0, "\n");
    }
  }
  Header(out, "gatekeeper_service_restarts_total", "counter",
         "Restarts of a gate's service after it exited.");
  for (const GateStatus& g : gates) {
    absl::StrAppend(&out, "gatekeeper_service_restarts_total{gate=\"", Label(g.name), "\"} ",
                    g.service.restarts, "\n");
  }
  Header(out, "gatekeeper_denial_events_total", "counter",
         "Denial events of a gate's socket filter: sent to the daemon, suppressed by the kernel's "
         "rate limit, or lost to a full ring buffer.");
  for (const GateStatus& g : gates) {
    const kernel::ScopeStats& s = g.socket_counters;
    for (const auto& [outcome, n] :
         {std::pair{"sent", s.events_sent}, std::pair{"suppressed", s.events_suppressed},
          std::pair{"lost", s.events_lost}}) {
      absl::StrAppend(&out, "gatekeeper_denial_events_total{gate=\"", Label(g.name),
                      "\",outcome=\"", outcome, "\"} ", n, "\n");
    }
  }
  Header(out, "gatekeeper_denial_events_logged_total", "counter",
         "Denial events the daemon logged as a line of their own.");
  for (const GateStatus& g : gates) {
    absl::StrAppend(&out, "gatekeeper_denial_events_logged_total{gate=\"", Label(g.name), "\"} ",
                    denial_counters(g.name).logged, "\n");
  }
  // by="kernel" repeats gatekeeper_denial_events_total{outcome="suppressed"} (kept as it is) so
  // that one family sums up every denial that got no line of its own.
  Header(out, "gatekeeper_denial_events_suppressed_total", "counter",
         "Denial events not logged one by one: by the kernel's rate limit of the gate's socket "
         "scope (never sent to the daemon), or by the daemon's rate limit of the gate's log lines "
         "(counted in its \"more denials suppressed\" lines).");
  for (const GateStatus& g : gates) {
    absl::StrAppend(&out, "gatekeeper_denial_events_suppressed_total{gate=\"", Label(g.name),
                    "\",by=\"kernel\"} ", g.socket_counters.events_suppressed, "\n");
    absl::StrAppend(&out, "gatekeeper_denial_events_suppressed_total{gate=\"", Label(g.name),
                    "\",by=\"userspace\"} ", denial_counters(g.name).suppressed, "\n");
  }
  Header(out, "gatekeeper_netlink_resyncs_total", "counter",
         "Full rtnetlink dumps after the event socket overflowed.");
  absl::StrAppend(&out, "gatekeeper_netlink_resyncs_total ", netlink_resyncs, "\n");
  return out;
}

}  // namespace gatekeeper::daemon
