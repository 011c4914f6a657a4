// The `gatekeeper run` gk-link-bench measures, as the tool sees it: the gate's config, the
// process (started in the server namespace, its stderr into a pipe, its NOTIFY_SOCKET bound
// here), its log lines and notify messages read whenever the tool waits, its control socket's
// status reply, and its stop. Every wait of the tool goes through Poll(): the daemon blocks when
// nobody reads its stderr or notify socket, and it is where SIGINT, SIGTERM and SIGHUP arrive.
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_DAEMON_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_DAEMON_H_

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"
#include "tests/bench/link_bench_daemon_dirs.h"

namespace gatekeeper::bench {

// One line of the daemon's stderr, stamped when the tool read it.
struct LogLine {
  int64_t read_ns = 0;
  std::string text;
};

class Daemon {
 public:
  // Absolute paths of the gatekeeper binary and of the service the gate starts.
  Daemon(std::string gatekeeper, std::string service);
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Blocks SIGINT, SIGTERM and SIGHUP for the process: Poll() reads them from a signalfd
  // instead, so that ^C ends the run through the cleanup. Before anything else.
  absl::Status CatchSignals();
  // Writes the gate's config to `root_dir`/etc and starts the daemon in the network namespace
  // `netns_fd`, with `root_dir`/run as its runtime dir and the cgroups and bpffs dir of `dirs`.
  absl::Status Start(const std::string& root_dir, const DaemonDirs& dirs, int netns_fd);
  // Waits until the daemon sent READY=1 and the gate listens.
  absl::Status WaitReady(int64_t deadline_ns);

  // Waits until one of `extra` is ready or `deadline_ns` passes, serving the daemon's fds
  // meanwhile: its log lines are queued (see TakeLines()), its notify messages drained (its
  // sd_notify() blocks once the socket's queue is full). Fills in `extra[i].revents`.
  // Cancelled on SIGINT/SIGTERM/SIGHUP, Internal when the daemon died. Works before Start() too.
  absl::Status Poll(std::span<pollfd> extra, int64_t deadline_ns);
  // The lines read since the last call.
  std::deque<LogLine> TakeLines();
  // The last lines the daemon logged, for error messages.
  std::string RecentLog() const;

  // The gate's object of the daemon's status reply (control socket).
  absl::StatusOr<nlohmann::json> GateStatus();

  // Stops the daemon (SIGTERM) and appends to `problems` what was wrong: a daemon that would not
  // stop, or exited with an error. From here on signals are left pending and the daemon's exit
  // is expected: the cleanup that follows finishes first.
  void Stop(std::vector<std::string>& problems);
  // The daemon's exit status as Stop() saw it (-1 before, or when it had to be killed).
  int exit_status() const { return exit_status_; }

 private:
  absl::Status WriteConfig(const std::string& config_dir);
  void ReadLog();
  void Terminate(std::vector<std::string>& problems);  // Stop() of a started daemon

  std::string gatekeeper_;
  std::string service_;
  std::string root_dir_;
  bool ready_ = false;     // READY=1 came
  bool stopping_ = false;  // Stop() ran

  common::UniqueFd signal_fd_;
  common::UniqueFd notify_;    // the daemon's NOTIFY_SOCKET, bound by us
  common::UniqueFd log_pipe_;  // read end of the daemon's stderr
  common::UniqueFd pidfd_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
  std::string log_partial_;
  std::deque<LogLine> lines_;
  std::deque<std::string> recent_;  // the last lines, for RecentLog()
};

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_DAEMON_H_
