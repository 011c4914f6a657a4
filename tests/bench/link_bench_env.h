// The world gk-link-bench measures in, put together: the test network (link_bench_netns.h), the
// daemon's cgroups and bpffs dir (link_bench_daemon_dirs.h) and the `gatekeeper run` with one
// gate on the server end (link_bench_daemon.h), all in a temporary dir of this run's. Setup()
// builds it in that order; Cleanup() takes all of it down again, whatever state a failure or
// SIGINT left it in, and says what it found left over.
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_ENV_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_ENV_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/bench/link_bench_daemon.h"
#include "tests/bench/link_bench_daemon_dirs.h"
#include "tests/bench/link_bench_netns.h"

namespace gatekeeper::bench {

class BenchEnv {
 public:
  // Absolute paths of the gatekeeper binary and of the service the gate starts.
  BenchEnv(std::string gatekeeper, std::string service);
  ~BenchEnv();  // Cleanup() unless it ran
  BenchEnv(const BenchEnv&) = delete;
  BenchEnv& operator=(const BenchEnv&) = delete;

  // Builds everything, starts the daemon and waits until it sent READY=1 and the gate listens.
  // Leaves the calling thread in the client namespace, so that its sockets are the client's.
  // Blocks SIGINT, SIGTERM and SIGHUP for the process: they are read from a signalfd instead.
  absl::Status Setup();

  // Stops the daemon (SIGTERM), checks what it left and removes everything Setup() made. Returns
  // what was wrong (a daemon that would not stop or failed, cgroups not empty, leftovers); empty
  // when all was clean. Runs once; later calls return nothing.
  std::vector<std::string> Cleanup();

  Daemon& daemon() { return daemon_; }
  Network& network() { return network_; }

 private:
  std::string tag_;       // gkbl<pid>
  std::string root_dir_;  // mkdtemp: etc/ (config), run/ (runtime), notify, the batch files
  bool cleaned_up_ = false;
  Daemon daemon_;
  DaemonDirs dirs_;
  Network network_;  // after daemon_, which serves its waits
};

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_ENV_H_
