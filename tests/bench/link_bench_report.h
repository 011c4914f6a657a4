// gk-link-bench's output: p50, p99, min, max and mean in ms of each measure, with what the
// client, the service and the daemon did and what the cleanup found, as a table or as one JSON
// object (which scripts/bench puts into results.md as it is).
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_REPORT_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_REPORT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/bench/link_bench_cycle.h"

namespace gatekeeper::bench {

// How a run ended, beside what it measured.
struct RunEnd {
  absl::Status status;  // Cancelled when interrupted
  std::vector<std::string> cleanup_problems;
  int daemon_exit_status = -1;
  double wall_s = 0;
};

// Prints the report of a run of `cycles` cycles of `mode` to stdout.
void PrintReport(const RunResults& run, Mode mode, int cycles, const RunEnd& end, bool json);

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_REPORT_H_
