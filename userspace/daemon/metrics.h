// The daemon's counters in Prometheus text exposition format (version 0.0.4).
#ifndef GATEKEEPER_DAEMON_METRICS_H_
#define GATEKEEPER_DAEMON_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "daemon/denial_log.h"
#include "daemon/gate_status.h"

namespace gatekeeper::daemon {

// Metric names and labels are a contract (README "Metrics"): add, never rename.
// `denials`: the daemon's own denial log counters by gate (DenialLog::AllCounters()); gates
// missing from it render zeros, entries that are not among `gates` (the host) are left out.
std::string RenderMetrics(const std::vector<GateStatus>& gates, uint64_t netlink_resyncs,
                          const std::map<std::string, DenialCounters>& denials = {});

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_METRICS_H_
