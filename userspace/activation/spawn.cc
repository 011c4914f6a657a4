#include "activation/spawn.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "activation/child_exec.h"
#include "activation/command_line.h"
#include "activation/environment.h"
#include "common/errno_status.h"

namespace gatekeeper::activation {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;
using internal::ChildPlan;
using internal::ChildReport;
using internal::ChildStep;

constexpr absl::string_view kListenPid = "LISTEN_PID=";
constexpr size_t kPidDigits = 20;

std::string UserText(const Credentials& c) { return absl::StrCat(c.uid, " (user ", c.user, ")"); }

std::string StepText(ChildStep step, const SpawnRequest& request, const std::string& directory) {
  const Credentials* c = request.credentials ? &*request.credentials : nullptr;
  switch (step) {
    case ChildStep::kSignals:
      return "reset signal handling";
    case ChildStep::kSetsid:
      return "setsid";
    case ChildStep::kSetgroups:
      return absl::StrCat("setgroups for user ", c != nullptr ? c->user : "?");
    case ChildStep::kSetgid:
      return absl::StrCat("setgid ", c != nullptr ? c->gid : 0);
    case ChildStep::kSetuid:
      return absl::StrCat("setuid ", c != nullptr ? UserText(*c) : "?");
    case ChildStep::kChdir:
      return absl::StrCat("chdir ", directory);
    case ChildStep::kFds:
      return "pass file descriptors";
    case ChildStep::kCloseFds:
      return "close inherited file descriptors";
    case ChildStep::kFileLimit:
      return absl::StrCat("set the soft RLIMIT_NOFILE to ", request.nofile_soft_limit.value_or(0));
    case ChildStep::kExec:
      return absl::StrCat("exec ", request.argv[0]);
  }
  return "start the service";
}

absl::Status Validate(const SpawnRequest& request) {
  if (request.argv.empty() || request.argv[0].empty() || request.argv[0][0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("the program must be an absolute path, got \"",
                                                   request.argv.empty() ? "" : request.argv[0],
                                                   "\""));
  }
  for (const PassedFd& passed : request.fds) {
    if (passed.fd < 0 || ::fcntl(passed.fd, F_GETFD) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("fd ", passed.fd, " (", passed.name, ") to pass is not open"));
    }
  }
  for (int fd : {request.stdin_fd, request.stdout_fd, request.stderr_fd}) {
    if (fd >= 0 && ::fcntl(fd, F_GETFD) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("standard stream fd ", fd, " is not open"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> WorkingDirectory(const SpawnRequest& request) {
  if (request.working_directory.empty()) return std::string("/");
  if (request.working_directory != "~") return request.working_directory;
  if (!request.credentials || request.credentials->home.empty()) {
    return absl::InvalidArgumentError("working directory \"~\" needs a user with a home");
  }
  return request.credentials->home;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (std::string& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

// Blocks every signal for its lifetime, so that nothing of the daemon's signal handling runs in
// the child between clone3 and the reset of the dispositions.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t saved_;
};

}  // namespace

absl::StatusOr<ExitStatus> Child::WaitImpl(int options) {
  if (reaped_) {
    return absl::FailedPreconditionError(absl::StrCat("pid ", pid_, " was reaped already"));
  }
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED | options);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return ErrnoStatus(errno, absl::StrCat("waitid for pid ", pid_));
  if (info.si_pid == 0) {
    return absl::UnavailableError(absl::StrCat("pid ", pid_, " is still running"));
  }
  reaped_ = true;
  return ExitStatus::FromSiginfo(info.si_code, info.si_status);
}

absl::StatusOr<ExitStatus> Child::Reap() { return WaitImpl(WNOHANG); }

absl::StatusOr<ExitStatus> Child::Wait() { return WaitImpl(0); }

absl::Status Child::Kill(int signal) const {
  if (::syscall(SYS_pidfd_send_signal, pidfd_.get(), signal, nullptr, 0) != 0) {
    return ErrnoStatus(errno, absl::StrCat("send signal ", signal, " to pid ", pid_));
  }
  return absl::OkStatus();
}

absl::StatusOr<Child> Spawn(const SpawnRequest& request) {
  if (absl::Status s = Validate(request); !s.ok()) return s;
  absl::StatusOr<std::string> directory = WorkingDirectory(request);
  if (!directory.ok()) return directory.status();

  std::vector<std::string> names;
  for (const PassedFd& passed : request.fds) names.push_back(passed.name);
  absl::StatusOr<std::vector<std::string>> env = ComposeEnvironment(request.environment, names);
  if (!env.ok()) return env.status();
  // Before LISTEN_PID is appended: its value is not known yet.
  std::vector<std::string> argv =
      request.expand_variables ? ExpandCommandLine(request.argv, *env) : request.argv;
  // LISTEN_PID goes last with room for the digits the child fills in.
  const bool listen = !request.fds.empty();
  if (listen) env->push_back(absl::StrCat(kListenPid, std::string(kPidDigits + 1, '\0')));
  std::vector<char*> argv_ptrs = Pointers(argv);
  std::vector<char*> env_ptrs = Pointers(*env);

  UniqueFd dev_null;
  if (request.stdin_fd < 0 || request.stdout_fd < 0 || request.stderr_fd < 0) {
    dev_null.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!dev_null) return ErrnoStatus(errno, "open /dev/null");
  }
  auto stream = [&](int fd) { return fd >= 0 ? fd : dev_null.get(); };
  std::vector<int> sources = {stream(request.stdin_fd), stream(request.stdout_fd),
                              stream(request.stderr_fd)};
  for (const PassedFd& passed : request.fds) sources.push_back(passed.fd);
  std::vector<int> scratch(sources.size());

  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe for spawn reports");
  UniqueFd report_read(report_pipe[0]);
  UniqueFd report_write(report_pipe[1]);

  ChildPlan plan;
  plan.path = request.argv[0].c_str();
  plan.argv = argv_ptrs.data();
  plan.envp = env_ptrs.data();
  plan.listen_pid_digits = listen ? env->back().data() + kListenPid.size() : nullptr;
  plan.working_directory = directory->c_str();
  if (request.credentials) {
    plan.set_credentials = true;
    plan.uid = request.credentials->uid;
    plan.gid = request.credentials->gid;
    plan.groups = request.credentials->supplementary_groups.data();
    plan.group_count = request.credentials->supplementary_groups.size();
  }
  plan.sources = sources.data();
  plan.targets = static_cast<int>(sources.size());
  plan.scratch = scratch.data();
  plan.report_fd = report_write.get();
  if (request.nofile_soft_limit) {
    rlimit current{};
    if (::getrlimit(RLIMIT_NOFILE, &current) != 0) {
      return ErrnoStatus(errno, "getrlimit RLIMIT_NOFILE");
    }
    // The hard limit is left alone, so the soft one must not exceed it.
    plan.set_file_limit = true;
    plan.file_limit = {std::min(*request.nofile_soft_limit, current.rlim_max), current.rlim_max};
  }

  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PIDFD;
  args.pidfd = reinterpret_cast<__u64>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (request.cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<__u64>(request.cgroup_fd);
  }
  long pid;
  {
    AllSignalsBlocked blocked;
    // glibc 2.36 has no clone3 wrapper; without a stack the child continues like after fork().
    pid = ::syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0) internal::RunChild(plan);
  }
  if (pid < 0) {
    return ErrnoStatus(errno, request.cgroup_fd >= 0
                                  ? "start the service in its cgroup (clone3 CLONE_INTO_CGROUP)"
                                  : "start the service (clone3)");
  }
  Child child(static_cast<pid_t>(pid), UniqueFd(pidfd));
  report_write.reset();

  ChildReport report{};
  ssize_t n;
  do {
    n = ::read(report_read.get(), &report, sizeof(report));
  } while (n < 0 && errno == EINTR);
  if (n == 0) return child;  // close-on-exec closed the pipe: execve succeeded

  const int read_errno = errno;
  // Whatever happened, no half-started child may be left behind.
  if (n != static_cast<ssize_t>(sizeof(report))) (void)child.Kill(SIGKILL);
  (void)child.Wait();
  if (n < 0) return ErrnoStatus(read_errno, "read the spawn report");
  if (n != static_cast<ssize_t>(sizeof(report))) {
    return absl::InternalError(absl::StrCat("short spawn report from pid ", pid));
  }
  return ErrnoStatus(report.err, StepText(report.step, request, *directory));
}

}  // namespace gatekeeper::activation
