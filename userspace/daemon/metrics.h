// The daemon's counters in Prometheus text exposition format (version 0.0.4).
#ifndef GATEKEEPER_DAEMON_METRICS_H_
#define GATEKEEPER_DAEMON_METRICS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/gate_status.h"

namespace gatekeeper::daemon {

// Metric names and labels are a contract (README "Metrics"): add, never rename.
std::string RenderMetrics(const std::vector<GateStatus>& gates, uint64_t netlink_resyncs);

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_METRICS_H_
