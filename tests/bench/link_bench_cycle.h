// gk-link-bench's measurement loop. Per cycle the gate's device goes away (set down, or the veth
// pair deleted and created again, down) and is set up again with one RTM_NEWLINK; timed are the
// kernel's ack of that request to the daemon's "listening on" line, and the request to the first
// connection from the client namespace that got the service's answer. A cycle not done within
// 5 s counts as failed, and the gate is brought back before the next one.
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_CYCLE_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_CYCLE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/bench/link_bench_client.h"
#include "tests/bench/link_bench_daemon_log.h"
#include "tests/bench/link_bench_env.h"

namespace gatekeeper::bench {

enum class Mode { kDownUp, kRecreate };

// What a run measured and saw.
struct RunResults {
  std::vector<double> event_to_listening_ms;  // t2 - t1
  std::vector<double> up_to_connection_ms;    // t3 - t0
  std::vector<double> up_to_ack_ms;           // t1 - t0: the kernel's share
  LogEvents log;
  Prober::Counts client;
  int completed = 0;
  int failed = 0;
  std::vector<std::string> failures;  // the first few
  int other_pid_answers = 0;          // answers from a pid other than the first service's
  int service_pid_start = 0, service_pid_end = 0;
  int restarts_start = -1, restarts_end = -1;

  void Fail(int cycle, const std::string& why) {
    ++failed;
    if (failures.size() < 10) failures.push_back(absl::StrCat("cycle ", cycle, ": ", why));
  }
};

// In an `env` that is set up: checks that a first connection reaches the service, runs `cycles`
// cycles of `mode` and reads the service's final status. An error ends the run; what was measured
// until then stays in `run`.
absl::Status RunCycles(BenchEnv& env, Mode mode, int cycles, RunResults& run);

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_CYCLE_H_
