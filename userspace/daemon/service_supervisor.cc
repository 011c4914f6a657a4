#include "daemon/service_supervisor.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "activation/environment.h"

namespace gatekeeper::daemon {
namespace {

activation::RestartSettings Settings(const config::ServiceConfig& s) {
  activation::RestartSettings r;
  switch (s.restart) {
    case config::Restart::kNo:
      r.mode = activation::RestartMode::kNo;
      break;
    case config::Restart::kOnFailure:
      r.mode = activation::RestartMode::kOnFailure;
      break;
    case config::Restart::kAlways:
      r.mode = activation::RestartMode::kAlways;
      break;
  }
  r.restart_sec = s.restart_sec;
  return r;
}

}  // namespace

ServiceSupervisor::ServiceSupervisor(std::string gate, config::ServiceConfig service,
                                     const config::SocketConfig& socket, common::UniqueFd cgroup,
                                     std::optional<rlim_t> nofile_soft_limit, EventLoop& loop,
                                     Logger log)
    : gate_(std::move(gate)),
      service_(std::move(service)),
      accept_(socket.accept),
      fd_name_(socket.fd_name),
      cgroup_(std::move(cgroup)),
      nofile_soft_limit_(nofile_soft_limit),
      loop_(loop),
      log_(std::move(log)),
      restarts_(Settings(service_)),
      limiter_({.max_connections = static_cast<int>(socket.max_connections),
                .max_per_source = static_cast<int>(socket.max_connections_per_source)}) {}

ServiceSupervisor::~ServiceSupervisor() = default;

bool ServiceSupervisor::stopped() const { return processes_.empty(); }

ServiceStatus ServiceSupervisor::Status() const {
  ServiceStatus s;
  s.state = state_;
  s.restarts = restart_count_;
  if (accept_) {
    s.connections = static_cast<int>(processes_.size());
  } else if (!processes_.empty()) {
    s.pid = processes_.begin()->first;
  }
  return s;
}

absl::Status ServiceSupervisor::EnsureOutput() {
  if (output_) return absl::OkStatus();
  auto made = activation::OutputForwarder::Create(
      gate_, [this](absl::string_view line) { log_(absl::StrCat("<6>", line)); });
  if (!made.ok()) return made.status();
  output_.emplace(std::move(made->first));
  // The daemon keeps the write end for later starts, so the pipe never reports end of file.
  output_write_ = std::move(made->second);
  auto watch =
      loop_.AddIo(output_->fd(), EPOLLIN, [this](uint32_t) { (void)output_->OnReadable(); });
  if (!watch.ok()) return watch.status();
  output_watch_ = *std::move(watch);
  return absl::OkStatus();
}

std::optional<activation::SpawnRequest> ServiceSupervisor::BaseRequest() {
  if (!credentials_resolved_ && (service_.user || service_.group)) {
    auto creds = activation::ResolveCredentials(service_.user ? service_.user->name : "",
                                                service_.group ? service_.group->name : "");
    if (!creds.ok()) {
      state_ = "failed";
      log_(absl::StrCat("<3>gate ", gate_, ": ", creds.status().message()));
      return std::nullopt;
    }
    credentials_ = *std::move(creds);
  }
  credentials_resolved_ = true;
  activation::SpawnRequest req;
  req.argv = service_.exec_start;
  // ExecStart= as systemd runs it: $NAME and ${NAME} from the service's own environment (USER=,
  // HOME=, Environment=, REMOTE_ADDR=, LISTEN_FDS=, ...), never from the daemon's.
  req.expand_variables = true;
  req.nofile_soft_limit = nofile_soft_limit_;
  if (credentials_ && service_.user)
    req.environment = activation::CredentialsEnvironment(*credentials_);
  // Environment= comes after USER/HOME/…: a later assignment of a name wins.
  req.environment.insert(req.environment.end(), service_.environment.begin(),
                         service_.environment.end());
  req.credentials = credentials_;
  req.working_directory = service_.working_directory;
  req.cgroup_fd = cgroup_.get();
  req.stdout_fd = output_write_.get();
  req.stderr_fd = output_write_.get();
  return req;
}

void ServiceSupervisor::OnListenersReady(std::vector<int> listeners) {
  listeners_ = std::move(listeners);
  if (absl::Status s = EnsureOutput(); !s.ok()) {
    log_(absl::StrCat("<3>gate ", gate_, ": ", s.message()));
  }
  if (accept_) {
    for (int fd : listeners_) {
      // Only the daemon accepts on an Accept=yes listener, so non-blocking affects nobody else.
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    state_ = "listening";
    ArmListenerWatch();
    return;
  }
  if (service_.start == config::Start::kImmediately) {
    StartService();
  } else {
    state_ = "waiting-connection";
    ArmListenerWatch();
  }
}

void ServiceSupervisor::ArmListenerWatch() {
  if (!listener_watches_.empty()) return;
  for (int fd : listeners_) {
    auto watch = loop_.AddIo(fd, EPOLLIN, [this, fd](uint32_t) {
      if (accept_) {
        OnAcceptable(fd);
      } else {
        // The first connection (or datagram) waits in the backlog for the service.
        DisarmListenerWatch();
        StartService();
      }
    });
    if (watch.ok()) listener_watches_.push_back(*std::move(watch));
  }
}

void ServiceSupervisor::DisarmListenerWatch() { listener_watches_.clear(); }

void ServiceSupervisor::StartService() {
  if (stopping_ || !processes_.empty()) return;
  const absl::Time now = absl::Now();
  if (absl::Status s = restarts_.RecordStart(now); !s.ok()) {
    state_ = "failed";
    log_(absl::StrCat("<3>gate ", gate_, ": service not started: ", s.message()));
    return;
  }
  std::optional<activation::SpawnRequest> req = BaseRequest();
  if (!req) return;
  for (int fd : listeners_) req->fds.push_back({fd, fd_name_});
  absl::StatusOr<activation::Child> child = activation::Spawn(*req);
  if (!child.ok()) {
    log_(absl::StrCat("<3>gate ", gate_, ": cannot start the service: ", child.status().message()));
    const activation::RestartDecision d = restarts_.OnStartFailure(child.status().message(), now);
    if (d.action == activation::RestartDecision::Action::kRestart) {
      ScheduleRestart(d.delay);
    } else {
      state_ = "failed";
    }
    return;
  }
  const pid_t pid = child->pid();
  auto watch = loop_.AddChildPidfd(child->pidfd(), [this, pid] { OnServiceExit(pid); });
  processes_.emplace(pid, Process{*std::move(child), watch.ok() ? *std::move(watch) : nullptr, ""});
  state_ = "running";
  log_(absl::StrCat("<6>gate ", gate_, ": service started, pid ", pid));
}

void ServiceSupervisor::ScheduleRestart(absl::Duration delay) {
  state_ = "restarting";
  auto timer = loop_.AddTimer(delay, [this] {
    restart_timer_.reset();
    ++restart_count_;
    StartService();
  });
  if (timer.ok()) restart_timer_ = *std::move(timer);
}

void ServiceSupervisor::OnServiceExit(pid_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  absl::StatusOr<activation::ExitStatus> status = it->second.child.Reap();
  if (!status.ok() && absl::IsUnavailable(status.status())) return;  // not yet
  processes_.erase(it);
  const std::string how = status.ok() ? status->ToString() : std::string(status.status().message());
  log_(absl::StrCat(status.ok() && status->Success() ? "<6>" : "<4>", "gate ", gate_,
                    ": service pid ", pid, " ", how));
  if (stopping_) {
    MaybeFinishStop();
    return;
  }
  const activation::RestartDecision d = restarts_.OnExit(
      status.ok() ? *status : activation::ExitStatus::Killed(SIGKILL), absl::Now());
  switch (d.action) {
    case activation::RestartDecision::Action::kRestart:
      log_(absl::StrCat("<5>gate ", gate_, ": restarting the service in ",
                        absl::FormatDuration(d.delay)));
      ScheduleRestart(d.delay);
      break;
    case activation::RestartDecision::Action::kFail:
      state_ = "failed";
      log_(absl::StrCat("<3>gate ", gate_, ": ", d.reason));
      break;
    case activation::RestartDecision::Action::kStop:
      if (service_.start == config::Start::kOnConnection) {
        state_ = "waiting-connection";
        ArmListenerWatch();
      } else {
        state_ = "stopped";
      }
      break;
  }
}

void ServiceSupervisor::OnAcceptable(int listener) {
  for (;;) {
    common::UniqueFd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;  // EAGAIN: all taken
    absl::StatusOr<std::string> key = activation::SourceKeyOf(conn.get());
    const std::string source = key.ok() ? *key : "unknown";
    const auto verdict = limiter_.TryAcquire(source);
    if (verdict != activation::ConnectionLimiter::Verdict::kAccept) {
      log_(absl::StrCat("<4>gate ", gate_, ": refused a connection from ", source, ": ",
                        activation::ConnectionLimiter::VerdictName(verdict)));
      continue;  // closing it refuses it
    }
    std::optional<activation::SpawnRequest> req = BaseRequest();
    if (!req) {
      limiter_.Release(source);
      continue;
    }
    req->fds.push_back({conn.get(), std::string(activation::kConnectionFdName)});
    if (service_.standard_input == config::StandardInput::kSocket) {
      req->stdin_fd = conn.get();
      req->stdout_fd = conn.get();
    }
    for (std::string& v : activation::RemoteEnvironmentOf(conn.get())) {
      req->environment.push_back(std::move(v));
    }
    absl::StatusOr<activation::Child> child = activation::Spawn(*req);
    if (!child.ok()) {
      limiter_.Release(source);
      log_(absl::StrCat("<3>gate ", gate_,
                        ": cannot start a connection's process: ", child.status().message()));
      continue;
    }
    const pid_t pid = child->pid();
    auto watch = loop_.AddChildPidfd(child->pidfd(), [this, pid] { OnConnectionExit(pid); });
    processes_.emplace(
        pid, Process{*std::move(child), watch.ok() ? *std::move(watch) : nullptr, source});
  }
}

void ServiceSupervisor::OnConnectionExit(pid_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  absl::StatusOr<activation::ExitStatus> status = it->second.child.Reap();
  if (!status.ok() && absl::IsUnavailable(status.status())) return;
  limiter_.Release(it->second.source_key);
  processes_.erase(it);
  if (stopping_) MaybeFinishStop();
}

void ServiceSupervisor::Stop(std::function<void()> done) {
  stopping_ = true;
  stop_done_ = std::move(done);
  DisarmListenerWatch();
  restart_timer_.reset();
  for (auto& [pid, p] : processes_) (void)p.child.Kill(SIGTERM);
  state_ = "stopping";
  MaybeFinishStop();
}

void ServiceSupervisor::MaybeFinishStop() {
  if (!processes_.empty() || !stop_done_) return;
  state_ = "stopped";
  auto done = std::move(stop_done_);
  stop_done_ = nullptr;
  done();
}

}  // namespace gatekeeper::daemon
