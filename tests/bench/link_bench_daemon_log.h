// What gk-link-bench reads out of the daemon's log lines (their wording is userspace/daemon's
// gate.cc and daemon.cc): the gate's device going away, the gate listening again, the daemon's
// own measure of that, service starts, and warnings.
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_DAEMON_LOG_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_DAEMON_LOG_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "tests/bench/link_bench_daemon.h"

namespace gatekeeper::bench {

struct LogEvents {
  bool away = false;                       // "device X is down" / "is gone"
  std::optional<int64_t> listening_ns;     // "listening on ..." read at
  std::vector<double> daemon_reported_ms;  // "listening 1.2ms after the link event"
  int service_starts = 0;
  // Denials of the client's SYNs that arrived while the gate was away: expected, counted apart.
  int denial_lines = 0;
  int warnings = 0;  // other lines of priority 0-4
  std::vector<std::string> first_warnings;
};

// Adds what `lines` say to `ev`.
void Scan(const std::deque<LogLine>& lines, LogEvents& ev);

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_DAEMON_LOG_H_
