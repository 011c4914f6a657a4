// Runs a short external command (`ip` here) for gk-link-bench while the daemon keeps being
// served: the command's output is waited for in Daemon::Poll().
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_COMMAND_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/bench/link_bench_daemon.h"

namespace gatekeeper::bench {

// Runs `argv` (looked up in PATH, spawned with an empty signal mask, in a process group of its
// own so that a ^C reaches only this tool), serving `daemon` while it runs. Error with its output
// when it fails; when the wait for it failed (a signal, the daemon's death), that error, returned
// once the command finished.
absl::Status RunCommand(const std::vector<std::string>& argv, Daemon& daemon);

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_COMMAND_H_
