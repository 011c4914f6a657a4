#include "activation/child_exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace gatekeeper::activation::internal {
namespace {

// The kernel's sigset_t: 64 signals on the 64-bit architectures we build for (x86_64, arm64).
constexpr size_t kKernelSigsetSize = 8;
constexpr int kMaxSignal = 64;

[[noreturn]] void Fail(const ChildPlan& plan, ChildStep step) {
  const ChildReport report{step, errno};
  // A short write to a pipe is atomic; if even this fails the parent sees exit status 127.
  [[maybe_unused]] ssize_t n = ::write(plan.report_fd, &report, sizeof(report));
  ::_exit(127);
}

// Raw system calls rather than glibc's wrappers: glibc's sigaction() refuses its two internal
// signals, its setuid() family would try to synchronise threads that exist only in the parent
// (the child of a raw clone3 inherits glibc's thread list), and sanitizer runtimes intercept some
// of the wrappers. The raw calls act on this one thread, which is the whole child.
void ResetSignals(const ChildPlan& plan) {
  // An all-zero kernel struct sigaction is SIG_DFL with no flags and an empty mask; it is larger
  // than the kernel's struct on every architecture.
  const unsigned long default_action[8] = {};
  static_assert(SIG_DFL == nullptr);
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (::syscall(SYS_rt_sigaction, sig, default_action, nullptr, kKernelSigsetSize) != 0 &&
        errno != EINVAL) {  // EINVAL: SIGKILL and SIGSTOP, which cannot be changed
      Fail(plan, ChildStep::kSignals);
    }
  }
}

void UnblockSignals(const ChildPlan& plan) {
  const unsigned long empty = 0;
  if (::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, kKernelSigsetSize) != 0) {
    Fail(plan, ChildStep::kSignals);
  }
}

void SetCredentials(const ChildPlan& plan) {
  if (::syscall(SYS_setgroups, plan.group_count, plan.groups) != 0) {
    Fail(plan, ChildStep::kSetgroups);
  }
  if (::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) Fail(plan, ChildStep::kSetgid);
  if (::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) Fail(plan, ChildStep::kSetuid);
}

// Puts plan.sources[i] at fd i for every target. A source may sit on another source's target
// number (or on the report pipe's), so first everything is copied above the highest target and
// only then put in place. dup2 clears FD_CLOEXEC on the result; the copies keep it.
void ArrangeFds(ChildPlan& plan) {
  const int first_free = plan.targets;
  const int report = ::fcntl(plan.report_fd, F_DUPFD_CLOEXEC, first_free);
  if (report < 0) Fail(plan, ChildStep::kFds);
  plan.report_fd = report;
  for (int i = 0; i < plan.targets; ++i) {
    plan.scratch[i] = ::fcntl(plan.sources[i], F_DUPFD_CLOEXEC, first_free);
    if (plan.scratch[i] < 0) Fail(plan, ChildStep::kFds);
  }
  for (int i = 0; i < plan.targets; ++i) {
    if (::dup2(plan.scratch[i], i) < 0) Fail(plan, ChildStep::kFds);
  }
  // Everything from `first_free` up goes, except the report pipe, which close-on-exec takes care
  // of: it must stay usable until execve itself has succeeded.
  if (report > first_free && ::syscall(SYS_close_range, first_free, report - 1, 0) != 0) {
    Fail(plan, ChildStep::kCloseFds);
  }
  if (::syscall(SYS_close_range, report + 1, ~0U, 0) != 0) Fail(plan, ChildStep::kCloseFds);
}

// LISTEN_PID must be the service's own pid, known only here; no snprintf (it may allocate or
// take locks).
void WriteListenPid(const ChildPlan& plan) {
  if (plan.listen_pid_digits == nullptr) return;
  long pid = ::syscall(SYS_getpid);
  char reversed[24];
  int length = 0;
  do {
    reversed[length++] = static_cast<char>('0' + pid % 10);
    pid /= 10;
  } while (pid > 0 && length < 20);
  for (int i = 0; i < length; ++i) plan.listen_pid_digits[i] = reversed[length - 1 - i];
  plan.listen_pid_digits[length] = '\0';
}

// Only after ArrangeFds(): in a daemon with more fds open than the service's limit allows, the
// copies it makes land above that limit, and F_DUPFD would fail with EMFILE under the lower
// limit. Fds already open above it stay usable (the report pipe); the limit binds new ones only.
void SetFileLimit(const ChildPlan& plan) {
  // prlimit64 takes the kernel's struct rlimit64, two 64-bit values, like glibc's rlimit here.
  static_assert(sizeof(rlimit) == 2 * sizeof(uint64_t));
  if (!plan.set_file_limit) return;
  if (::syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &plan.file_limit, nullptr) != 0) {
    Fail(plan, ChildStep::kFileLimit);
  }
}

}  // namespace

void RunChild(ChildPlan& plan) {
  // The parent blocked every signal around clone3, so no handler of the daemon can run here
  // before the dispositions are back to default.
  ResetSignals(plan);
  // Its own session: a terminal's Ctrl-C aimed at a foreground daemon must not hit services.
  if (::setsid() < 0) Fail(plan, ChildStep::kSetsid);
  if (plan.set_credentials) SetCredentials(plan);
  if (::chdir(plan.working_directory) != 0) Fail(plan, ChildStep::kChdir);
  ArrangeFds(plan);
  SetFileLimit(plan);
  WriteListenPid(plan);
  UnblockSignals(plan);
  ::execve(plan.path, plan.argv, plan.envp);
  Fail(plan, ChildStep::kExec);
}

}  // namespace gatekeeper::activation::internal
