// Internal to Spawn(): the code that runs between clone3 and execve. Everything it needs is
// prepared by the parent in a ChildPlan, so the child only makes system calls.
#ifndef GATEKEEPER_ACTIVATION_CHILD_EXEC_H_
#define GATEKEEPER_ACTIVATION_CHILD_EXEC_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>

namespace gatekeeper::activation::internal {

// The step that failed, sent to the parent with errno.
enum class ChildStep : int {
  kSignals = 1,
  kSetsid,
  kSetgroups,
  kSetgid,
  kSetuid,
  kChdir,
  kFds,
  kCloseFds,
  kFileLimit,
  kExec,
};

struct ChildReport {
  ChildStep step;
  int err;
};

struct ChildPlan {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  // Where the child writes its pid in decimal (NUL-terminated, room for 20 characters): the value
  // part of the "LISTEN_PID=" entry in `envp`. Null when no fds are passed.
  char* listen_pid_digits = nullptr;
  const char* working_directory = nullptr;

  bool set_credentials = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  size_t group_count = 0;

  // Sources for fds 0, 1, 2, 3, ...: `targets` entries, the first three the standard streams.
  const int* sources = nullptr;
  int targets = 0;
  // Scratch space of `targets` ints for the child's own copy of the address space.
  int* scratch = nullptr;

  // Applied with setrlimit once the fds are in place, when set_file_limit.
  bool set_file_limit = false;
  rlimit file_limit{};

  int report_fd = -1;  // the close-on-exec pipe to the parent
};

// Never returns: execs the program or reports the failed step and _exit(127)s.
[[noreturn]] void RunChild(ChildPlan& plan);

}  // namespace gatekeeper::activation::internal

#endif  // GATEKEEPER_ACTIVATION_CHILD_EXEC_H_
