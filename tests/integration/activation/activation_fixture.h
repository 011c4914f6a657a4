// Shared pieces of the privileged activation tests: services started with Spawn() are tracked
// and killed and reaped in tear-down whatever the test did; a test cgroup and a copy of the test
// service are removed again; the parent's signal state and environment are dirtied on purpose
// (SIGPIPE ignored, SIGUSR1 blocked, NOTIFY_SOCKET, WATCHDOG_* and LISTEN_* set) so that every
// test shows none of it reaches a service.
#ifndef GATEKEEPER_TESTS_INTEGRATION_ACTIVATION_ACTIVATION_FIXTURE_H_
#define GATEKEEPER_TESTS_INTEGRATION_ACTIVATION_ACTIVATION_FIXTURE_H_

#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "activation/output_forwarder.h"
#include "activation/spawn.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "kernel/cgroup.h"

namespace gatekeeper::testing {

inline constexpr std::chrono::seconds kDeadline{10};

class ActivationTest : public ::testing::Test {
 public:
  // Connects to `ip`:`port`, sends a line and returns the reply line ("" on timeout or error).
  static std::string Ask(const std::string& ip, uint16_t port);
  static common::UniqueFd Connect(const std::string& ip, uint16_t port);
  static std::string AskOn(int fd);
  // True when `fd` becomes readable (or hung up) within `timeout`.
  static bool WaitReadable(int fd, std::chrono::milliseconds timeout = kDeadline);

  // /proc views of a running process.
  static std::set<int> OpenFds(pid_t pid);
  static std::string FdTarget(pid_t pid, int fd);
  static std::string StatusField(pid_t pid, const std::string& field);
  static std::string SocketLink(int fd);  // "socket:[inode]" of one of our fds

 protected:
  void SetUp() override;
  void TearDown() override;

  // (Re)creates the output pipe and its forwarder ("svc: " lines into output_lines_).
  void NewOutput();

  // The test service binary (gk-test-service).
  static std::string ServicePath();
  // A copy of it that any user may execute (the build tree may sit below a private directory).
  std::string WorldExecutableServicePath();
  // The parent's whole environment, including the variables that must not reach a service.
  static std::vector<std::string> ParentEnvironment();

  // A request for the test service with `args`, the parent environment and the output pipe.
  activation::SpawnRequest Request(const std::vector<std::string>& args);
  // Spawns and tracks the child for clean-up; null (and a test failure) when Spawn fails.
  activation::Child* Start(const activation::SpawnRequest& request);

  // A loopback socket bound to an ephemeral port: listening for SOCK_STREAM.
  common::UniqueFd Listen(const std::string& ip, int type = SOCK_STREAM, bool v6only = true);
  // A cgroup of the test's own below the cgroup v2 mount; removed in tear-down.
  const kernel::Cgroup& TestCgroup();

  // Reads the service's standard output (through the OutputForwarder, prefixed "svc: ") until
  // the "END" line of --print-env; returns VAR -> value, ARG lines as "ARG<n>".
  std::map<std::string, std::string> ReadPrintedEnv();
  std::optional<activation::OutputForwarder> output_;
  common::UniqueFd output_write_;
  std::vector<std::string> output_lines_;

 private:
  std::vector<std::unique_ptr<activation::Child>> children_;
  std::optional<kernel::Cgroup> cgroup_;
  std::string copy_dir_;
  struct sigaction saved_sigpipe_ {};
  struct sigaction saved_sighup_ {};
  sigset_t saved_mask_{};
  bool dirtied_ = false;
};

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_INTEGRATION_ACTIVATION_ACTIVATION_FIXTURE_H_
