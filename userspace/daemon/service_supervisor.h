// The service of one gate: started with the gate's listeners (LISTEN_FDS) on the first connection
// or at once, restarted with backoff, or (Accept=yes) one process per accepted connection. Runs
// on the daemon's event loop; never blocks it.
#ifndef GATEKEEPER_DAEMON_SERVICE_SUPERVISOR_H_
#define GATEKEEPER_DAEMON_SERVICE_SUPERVISOR_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "activation/connection_limiter.h"
#include "activation/credentials.h"
#include "activation/output_forwarder.h"
#include "activation/restart_policy.h"
#include "activation/spawn.h"
#include "common/unique_fd.h"
#include "config/config.h"
#include "daemon/event_loop.h"
#include "daemon/gate_status.h"

namespace gatekeeper::daemon {

class ServiceSupervisor {
 public:
  using Logger = std::function<void(const std::string&)>;

  // `nofile_soft_limit`: the soft RLIMIT_NOFILE the service's processes get (see
  // SpawnRequest::nofile_soft_limit); unset, they inherit the daemon's.
  ServiceSupervisor(std::string gate, config::ServiceConfig service,
                    const config::SocketConfig& socket, common::UniqueFd cgroup,
                    std::optional<rlim_t> nofile_soft_limit, EventLoop& loop, Logger log);
  ~ServiceSupervisor();

  // The gate's listeners exist (they stay the same fds for the gate's life). Starts the service
  // at once (Start=immediately) or on the first connection; for Accept=yes begins accepting.
  void OnListenersReady(std::vector<int> listeners);
  // SIGTERM to every process; `done` runs once all have exited (the caller kills the cgroup
  // after a grace period if they do not).
  void Stop(std::function<void()> done);
  bool stopped() const;
  ServiceStatus Status() const;

 private:
  struct Process {
    activation::Child child;
    EventSource exit_watch;
    std::string source_key;  // Accept=yes: the peer, for MaxConnectionsPerSource=
  };

  absl::Status EnsureOutput();
  // The request every start shares; nullopt (and the service failed) when User=/Group= cannot be
  // resolved.
  std::optional<activation::SpawnRequest> BaseRequest();
  void ArmListenerWatch();
  void DisarmListenerWatch();
  void StartService();
  void OnServiceExit(pid_t pid);
  void OnAcceptable(int listener);
  void OnConnectionExit(pid_t pid);
  void ScheduleRestart(absl::Duration delay);
  void MaybeFinishStop();

  std::string gate_;
  config::ServiceConfig service_;
  bool accept_;
  std::string fd_name_;
  common::UniqueFd cgroup_;
  std::optional<rlim_t> nofile_soft_limit_;
  EventLoop& loop_;
  Logger log_;

  // Resolved once, on the first start: the name service may block (LDAP), and a user that
  // disappears later should not change a running gate.
  std::optional<activation::Credentials> credentials_;
  bool credentials_resolved_ = false;
  std::vector<int> listeners_;  // borrowed from the gate
  std::vector<EventSource> listener_watches_;
  std::optional<activation::OutputForwarder> output_;
  common::UniqueFd output_write_;
  EventSource output_watch_;
  activation::RestartTracker restarts_;
  activation::ConnectionLimiter limiter_;
  std::map<pid_t, Process> processes_;
  EventSource restart_timer_;
  std::string state_ = "stopped";
  int restart_count_ = 0;
  bool stopping_ = false;
  std::function<void()> stop_done_;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_SERVICE_SUPERVISOR_H_
