#include "tests/bench/link_bench_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errno_status.h"
#include "common/unique_fd.h"
#include "tests/bench/link_bench_clock.h"

namespace gatekeeper::bench {

using common::ErrnoStatus;
using common::UniqueFd;

absl::Status RunCommand(const std::vector<std::string>& argv, Daemon& daemon) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  UniqueFd out(p[0]);
  UniqueFd out_write(p[1]);
  ::fcntl(out.get(), F_SETFL, O_NONBLOCK);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int err = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  out_write.reset();
  const std::string command = absl::StrJoin(argv, " ");
  if (err != 0) return ErrnoStatus(err, "run " + command);

  // Read its output until it closes the pipe, serving the daemon meanwhile.
  std::string output;
  absl::Status interrupted;
  const int64_t deadline = NowNs() + 30 * kSecond;
  while (out && NowNs() < deadline) {
    char buf[4096];
    const ssize_t n = ::read(out.get(), buf, sizeof(buf));
    if (n > 0) {
      output.append(buf, n);
      continue;
    }
    if (n == 0) break;
    pollfd p{out.get(), POLLIN, 0};
    if (absl::Status s = daemon.Poll({&p, 1}, deadline); !s.ok()) {
      interrupted = s;  // the command is short: let it finish, then report
      break;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!interrupted.ok()) return interrupted;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!output.empty() && output.back() == '\n') output.pop_back();
    return absl::InternalError(
        absl::StrCat("`", command, "` failed (status ", status, "): ", output));
  }
  return absl::OkStatus();
}

}  // namespace gatekeeper::bench
