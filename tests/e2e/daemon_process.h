// A `gatekeeper run` for end-to-end tests: in a network namespace, with directories, cgroup base
// and bpffs directory of its own, READY=1 received on a notify socket of the test's.
#ifndef GATEKEEPER_TESTS_E2E_DAEMON_PROCESS_H_
#define GATEKEEPER_TESTS_E2E_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"
#include "tests/integration/test_env.h"

namespace gatekeeper::testing {

class DaemonProcess {
 public:
  // Makes a unique config dir (with `files`: name → text), runtime dir, cgroup base and bpffs dir.
  explicit DaemonProcess(const std::map<std::string, std::string>& files);
  ~DaemonProcess();  // stops it if running, removes everything it made

  const std::string& config_dir() const { return config_dir_; }
  const std::string& runtime_dir() const { return runtime_dir_; }
  const std::string& cgroup_base() const { return cgroup_base_; }

  // Writes (or replaces) a file of the config dir; an empty `text` with `remove` deletes it.
  void WriteConfig(const std::string& name, const std::string& text) const;
  void RemoveConfig(const std::string& name) const;
  // Extra `gatekeeper run` arguments for the next Start (e.g. --metrics-listen).
  void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
  // A cgroup (which must exist) the next Start runs the daemon in, as systemd runs a unit in its
  // own; empty: the test's cgroup.
  void set_start_cgroup(std::string path) { start_cgroup_ = std::move(path); }

  // Starts the daemon inside `netns`; true once it sent READY=1. Also after Kill(): the new
  // daemon finds what the killed one left.
  bool Start(const Netns& netns, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // `gatekeeper status --json` equivalent over the control socket.
  absl::StatusOr<nlohmann::json> Status(const std::string& gate = "") const;
  // Any control request; the daemon's JSON reply.
  absl::StatusOr<nlohmann::json> Request(const nlohmann::json& request,
                                         int timeout_ms = 30000) const;
  // The gate's JSON (empty object when it cannot be read).
  nlohmann::json Gate(const std::string& gate) const;
  // Polls the status until the gate is in `state`.
  bool WaitGateState(const std::string& gate, const std::string& state,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // SIGTERM, then waits for the exit; returns the exit status (-1 if it had to be killed).
  int Stop();
  // The cgroup the daemon was in when it exited after the last Stop() ("" if unknown).
  const std::string& exit_cgroup() const { return exit_cgroup_; }
  void Kill();  // SIGKILL, reaped
  pid_t pid() const { return pid_; }
  // Everything the daemon logged so far.
  std::string Log() const;
  // The pin directory the daemon announced ("pins in DIR" in its ready line), or "".
  std::string PinDir() const;

 private:
  std::string tag_;
  std::string config_dir_;
  std::string runtime_dir_;
  std::string cgroup_base_;
  std::string bpffs_dir_;
  std::string notify_path_;
  common::UniqueFd notify_;
  void StopDrain();

  std::vector<std::string> extra_args_;
  std::string start_cgroup_;
  std::string exit_cgroup_;
  pid_t pid_ = -1;
  // After READY=1 the daemon keeps sending STATUS= lines; like systemd, we read them all, or its
  // blocking sd_notify() would stall once the socket's queue is full.
  std::thread drain_;
  std::atomic<bool> draining_{false};
};

// Sends a line to a gk-test-service connection and returns its answer line
// ("<fdname> <pid>[ <remote>]"), or "" when none came within `timeout`.
std::string Ask(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Path of a binary of the build (gatekeeper, gk-test-service), set by CMake.
std::string GatekeeperBinary();
std::string TestServiceBinary();

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_E2E_DAEMON_PROCESS_H_
