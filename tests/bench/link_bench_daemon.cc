#include "tests/bench/link_bench_daemon.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "tests/bench/link_bench_clock.h"
#include "tests/bench/link_bench_topology.h"

namespace gatekeeper::bench {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;

constexpr size_t kRecentLines = 40;

}  // namespace

Daemon::Daemon(std::string gatekeeper, std::string service)
    : gatekeeper_(std::move(gatekeeper)), service_(std::move(service)) {}

absl::Status Daemon::CatchSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return ErrnoStatus(errno, "block signals");
  signal_fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_) return ErrnoStatus(errno, "signalfd");
  return absl::OkStatus();
}

absl::Status Daemon::WriteConfig(const std::string& config_dir) {
  const std::string path = absl::StrCat(config_dir, "/", kGateName, ".gate");
  std::ofstream out(path);
  out << "[Socket]\n"
      << "ListenStream=" << kServerAddress << ":" << kPort << "\n"
      << "BindToDevice=" << kServerDevice << "\n"
      << "IPAddressDeny=any\n"
      << "IPAddressAllow=" << kClientAddress << "\n"
      << "\n[Service]\n"
      << "ExecStart=" << service_ << "\n"
      << "Start=immediately\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status Daemon::Start(const std::string& root_dir, const DaemonDirs& dirs, int netns_fd) {
  root_dir_ = root_dir;
  GK_RETURN_IF_ERROR(WriteConfig(root_dir_ + "/etc"));
  const std::string notify_path = root_dir_ + "/notify";
  notify_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un addr{.sun_family = AF_UNIX};
  std::strncpy(addr.sun_path, notify_path.c_str(), sizeof(addr.sun_path) - 1);
  if (!notify_ || ::bind(notify_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, "bind the notify socket " + notify_path);
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  log_pipe_.reset(p[0]);
  UniqueFd log_write(p[1]);
  ::fcntl(log_pipe_.get(), F_SETFL, O_NONBLOCK);
  // Room for a burst: the daemon's fflush(stderr) blocks on a full pipe.
  (void)::fcntl(log_pipe_.get(), F_SETPIPE_SZ, 1 << 20);
  UniqueFd dev_null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!dev_null) return ErrnoStatus(errno, "open /dev/null");

  // Everything the child uses is made before fork(): between fork and exec only async-signal-safe
  // calls.
  std::vector<std::string> args = {gatekeeper_,     "run",
                                   "--config-dir",  root_dir_ + "/etc",
                                   "--runtime-dir", root_dir_ + "/run",
                                   "--cgroup-base", dirs.cgroup_base(),
                                   "--host-cgroup", dirs.host_cgroup(),
                                   "--bpffs-dir",   dirs.bpffs_dir()};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const absl::string_view v = *e;
    if (absl::StartsWith(v, "NOTIFY_SOCKET=") || absl::StartsWith(v, "INVOCATION_ID=") ||
        absl::StartsWith(v, "LISTEN_") || absl::StartsWith(v, "WATCHDOG_")) {
      continue;
    }
    env.emplace_back(v);
  }
  env.push_back("NOTIFY_SOCKET=" + notify_path);
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  sigset_t none;
  sigemptyset(&none);

  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus(errno, "fork");
  if (pid == 0) {
    // Its own process group: a ^C at the terminal reaches only this tool, which then stops the
    // daemon in order. If this tool dies anyway, the daemon gets SIGTERM and cleans up after
    // itself (namespaces and this tool's dirs stay behind then).
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::setns(netns_fd, CLONE_NEWNET) != 0) ::_exit(126);
    ::dup2(dev_null.get(), 0);
    ::dup2(dev_null.get(), 1);
    ::dup2(log_write.get(), 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  pid_ = pid;
  pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd_) return ErrnoStatus(errno, "pidfd_open");
  return absl::OkStatus();
}

absl::Status Daemon::WaitReady(int64_t deadline_ns) {
  while (!ready_) {
    if (NowNs() >= deadline_ns) {
      return absl::DeadlineExceededError("no READY=1 from the daemon within 30 s; its log:\n" +
                                         RecentLog());
    }
    GK_RETURN_IF_ERROR(Poll({}, deadline_ns));
  }
  // The gate listens before READY=1 (the veth is up and addressed before the daemon starts).
  GK_ASSIGN_OR_RETURN(const nlohmann::json gate, GateStatus());
  if (gate.value("state", "") != "running") {
    return absl::FailedPreconditionError(absl::StrCat("after READY=1 the gate is ", gate.dump(),
                                                      " instead of running; the daemon's log:\n",
                                                      RecentLog()));
  }
  return absl::OkStatus();
}

absl::Status Daemon::Poll(std::span<pollfd> extra, int64_t deadline_ns) {
  std::vector<pollfd> fds = {{stopping_ ? -1 : signal_fd_.get(), POLLIN, 0},
                             {pidfd_.get(), POLLIN, 0},
                             {log_pipe_.get(), POLLIN, 0},
                             {notify_.get(), POLLIN, 0}};
  constexpr size_t kBase = 4;
  for (pollfd& p : extra) fds.push_back({p.fd, p.events, 0});
  int n;
  do {
    const int64_t left = std::max<int64_t>(0, deadline_ns - NowNs());
    const timespec timeout{.tv_sec = left / kSecond, .tv_nsec = left % kSecond};
    n = ::ppoll(fds.data(), fds.size(), &timeout, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, "ppoll");
  for (size_t i = 0; i < extra.size(); ++i) extra[i].revents = fds[kBase + i].revents;
  if (fds[2].revents != 0) ReadLog();
  if (fds[3].revents != 0) {
    // Every message is read; only READY=1 matters here.
    char buf[4096];
    ssize_t got;
    while ((got = ::recv(notify_.get(), buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
      if (absl::StrContains(absl::string_view(buf, got), "READY=1")) ready_ = true;
    }
  }
  if (fds[0].revents != 0) {
    signalfd_siginfo info{};
    (void)::read(signal_fd_.get(), &info, sizeof(info));
    return absl::CancelledError(absl::StrCat("interrupted by ", ::strsignal(info.ssi_signo)));
  }
  if (fds[1].revents != 0 && !stopping_) {
    ReadLog();
    return absl::InternalError("the daemon exited unexpectedly; its log:\n" + RecentLog());
  }
  return absl::OkStatus();
}

void Daemon::ReadLog() {
  if (!log_pipe_) return;
  for (;;) {
    char buf[65536];
    const ssize_t n = ::read(log_pipe_.get(), buf, sizeof(buf));
    const int64_t now = NowNs();
    if (n == 0) {  // every writer is gone
      log_pipe_.reset();
      return;
    }
    if (n < 0) return;  // EAGAIN: all read
    log_partial_.append(buf, n);
    size_t start = 0;
    for (size_t nl; (nl = log_partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = log_partial_.substr(start, nl - start);
      recent_.push_back(line);
      if (recent_.size() > kRecentLines) recent_.pop_front();
      lines_.push_back({.read_ns = now, .text = std::move(line)});
    }
    log_partial_.erase(0, start);
  }
}

std::deque<LogLine> Daemon::TakeLines() { return std::exchange(lines_, {}); }

std::string Daemon::RecentLog() const {
  std::string out;
  for (const std::string& l : recent_) absl::StrAppend(&out, "  ", l, "\n");
  return out;
}

absl::StatusOr<nlohmann::json> Daemon::GateStatus() {
  const std::string path = root_dir_ + "/run/control.sock";
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un addr{.sun_family = AF_UNIX};
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, "connect to " + path);
  }
  const std::string request =
      nlohmann::json{{"command", "status"}, {"gate", kGateName}}.dump() + "\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return ErrnoStatus(errno, "send a status request");
  }
  // The reply is waited for in Poll(): the daemon may need its log and notify socket read before
  // it gets to answer. Read to the end, which the daemon marks by closing: it is then done with
  // this request and idle when a cycle's clock starts.
  std::string reply;
  const int64_t deadline = NowNs() + 5 * kSecond;
  for (;;) {
    char buf[16384];
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      reply.append(buf, n);
      continue;
    }
    if (n == 0) break;
    if (errno != EAGAIN) return ErrnoStatus(errno, "read the status reply");
    if (NowNs() >= deadline) return absl::DeadlineExceededError("no status reply within 5 s");
    pollfd p{fd.get(), POLLIN, 0};
    GK_RETURN_IF_ERROR(Poll({&p, 1}, deadline));
  }
  if (reply.find('\n') == std::string::npos) return absl::InternalError("no status reply");
  const nlohmann::json j = nlohmann::json::parse(reply.substr(0, reply.find('\n')), nullptr,
                                                 /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InternalError("malformed status reply");
  if (j.contains("error")) return absl::InternalError("status: " + j["error"].dump());
  if (!j.contains("gates") || !j["gates"].is_array() || j["gates"].empty()) {
    return absl::InternalError("status reply without the gate: " + j.dump());
  }
  return j["gates"][0];
}

void Daemon::Stop(std::vector<std::string>& problems) {
  // From here on a second ^C is left pending: the cleanup finishes first.
  stopping_ = true;
  if (pid_ > 0) Terminate(problems);
  log_pipe_.reset();
  notify_.reset();
}

void Daemon::Terminate(std::vector<std::string>& problems) {
  ::kill(pid_, SIGTERM);
  // Its log and notify socket are served while it stops: it must not block on either.
  const int64_t deadline = NowNs() + 15 * kSecond;
  bool exited = false;
  while (!exited && NowNs() < deadline) {
    pollfd p{pidfd_.get(), POLLIN, 0};
    if (!Poll({&p, 1}, deadline).ok()) break;
    exited = p.revents != 0;
  }
  if (!exited) {
    problems.push_back("the daemon did not stop within 15 s of SIGTERM; killed it");
    ::kill(pid_, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  ReadLog();
  pid_ = -1;
  pidfd_.reset();
  if (exited) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (exit_status_ != 0) {
      problems.push_back(absl::StrCat("the daemon exited with status ", exit_status_,
                                      " on SIGTERM; its log:\n", RecentLog()));
    }
  }
}

}  // namespace gatekeeper::bench
