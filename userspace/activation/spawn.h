// Starting a service the way systemd does for a socket-activated unit: the listening sockets
// become fds 3, 4, ... with LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID set, nothing else of the
// daemon leaks into it (fds, signal state, supervisor variables, session), and the process starts
// directly inside the gate's service cgroup. The result is watched through a pidfd on the
// daemon's event loop.
#ifndef GATEKEEPER_ACTIVATION_SPAWN_H_
#define GATEKEEPER_ACTIVATION_SPAWN_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "activation/credentials.h"
#include "activation/exit_status.h"
#include "common/unique_fd.h"

namespace gatekeeper::activation {

struct PassedFd {
  int fd = -1;       // borrowed: stays open (and owned) in the daemon
  std::string name;  // its LISTEN_FDNAMES entry; see ValidateFdName()
};

struct SpawnRequest {
  // argv[0] is the absolute path of the program and is executed as is: no shell, no PATH search,
  // so quotes, '$', ';' and the like reach the program literally (but see expand_variables).
  std::vector<std::string> argv;
  // Expands "$NAME", "${NAME}" and "$$" in argv as systemd does for ExecStart= (see
  // ExpandCommandLine()), against the environment the service gets (LISTEN_PID aside: only the
  // child knows it). As in systemd the program executed is argv[0] as given, unexpanded; only the
  // argument vector the program sees is.
  bool expand_variables = false;
  // "VAR=VALUE" entries composed by the caller (Environment=, CredentialsEnvironment(),
  // RemoteEnvironment(), ...). Spawn drops NOTIFY_SOCKET, WATCHDOG_* and LISTEN_* from it and adds
  // LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (see ComposeEnvironment()).
  std::vector<std::string> environment;
  // Become fds 3, 4, ... in this order. With none, no LISTEN_* variable is set (as systemd).
  std::vector<PassedFd> fds;
  // Applied with setgroups, setgid, setuid in that order; unset keeps the daemon's.
  std::optional<Credentials> credentials;
  // Empty means "/" (systemd's default for system services, so the daemon's cwd never leaks);
  // "~" means the home directory of `credentials`.
  std::string working_directory;
  // An open cgroup v2 directory: the child is created inside it (clone3 CLONE_INTO_CGROUP), so
  // it is filtered from its first instruction. -1 keeps the daemon's cgroup.
  int cgroup_fd = -1;
  // Become fds 0, 1, 2 (borrowed). -1 means /dev/null. Give the write end of an
  // OutputForwarder's pipe to have the output logged with the gate name.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // The soft RLIMIT_NOFILE the service gets, capped at the hard limit, which stays as it is. The
  // daemon raises its own soft limit for the fds its gates need and hands services the usual one
  // (1024 as a rule) back, as systemd does: programs that use select() break on fds above 1023.
  // Unset: the service inherits the daemon's.
  std::optional<rlim_t> nofile_soft_limit;
};

// A started service process. Move-only; destroying it closes the pidfd but neither signals nor
// reaps the process (the daemon decides that: Kill(), then Reap() once the pidfd is readable).
class Child {
 public:
  Child(pid_t pid, common::UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  Child(Child&&) = default;
  Child& operator=(Child&&) = default;

  pid_t pid() const { return pid_; }
  // Becomes readable (POLLIN) when the process exits; put it on the event loop.
  int pidfd() const { return pidfd_.get(); }
  bool reaped() const { return reaped_; }

  // Collects the exit status without blocking (waitid P_PIDFD, WNOHANG). Unavailable while the
  // process still runs; FailedPrecondition when it was reaped already.
  absl::StatusOr<ExitStatus> Reap();
  // The same, blocking: for shutdown after a SIGKILL and for tests, never on the event loop.
  absl::StatusOr<ExitStatus> Wait();
  // pidfd_send_signal: can never hit a recycled pid. NotFound once the process has been reaped.
  absl::Status Kill(int signal) const;

 private:
  absl::StatusOr<ExitStatus> WaitImpl(int options);

  pid_t pid_ = 0;
  common::UniqueFd pidfd_;
  bool reaped_ = false;
};

// Starts the program and returns once it has exec'd: the child reports a failure before exec
// through a close-on-exec pipe, so the wait takes as long as clone + exec. A failure names the
// step and errno, e.g. "exec /usr/bin/foo: No such file or directory" or
// "setuid 65534 (user nobody): Operation not permitted"; the failed child is reaped already.
// Besides what the request asks for, the child gets its own session (setsid, as systemd's
// services), so signals a terminal sends to a foreground daemon do not reach it.
absl::StatusOr<Child> Spawn(const SpawnRequest& request);

}  // namespace gatekeeper::activation

#endif  // GATEKEEPER_ACTIVATION_SPAWN_H_
