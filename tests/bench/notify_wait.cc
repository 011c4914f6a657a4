// gk-notify-wait: runs a daemon the way systemd runs a Type=notify service, for the benchmarks:
// it owns the NOTIFY_SOCKET, writes the milliseconds from fork to READY=1 into a file, and keeps
// reading the daemon's STATUS= messages for as long as it runs (sd_notify blocks once nobody reads
// a full socket). SIGTERM and SIGINT are passed on; it exits with the daemon's exit status.
//   gk-notify-wait --ready-file FILE -- COMMAND [ARG...]
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace {

using gatekeeper::common::UniqueFd;

int Usage() {
  std::fprintf(stderr, "usage: gk-notify-wait --ready-file FILE -- COMMAND [ARG...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5 || std::strcmp(argv[1], "--ready-file") != 0 || std::strcmp(argv[3], "--") != 0) {
    return Usage();
  }
  const std::string ready_file = argv[2];
  const std::string path = "/tmp/gk-notify-wait." + std::to_string(::getpid());
  UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ::unlink(path.c_str());
  if (!sock || ::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::fprintf(stderr, "gk-notify-wait: bind %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd signals(::signalfd(-1, &mask, SFD_CLOEXEC));

  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "gk-notify-wait: fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (pid == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, nullptr);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    ::execvp(argv[4], argv + 4);
    std::fprintf(stderr, "gk-notify-wait: %s: %s\n", argv[4], std::strerror(errno));
    ::_exit(127);
  }

  bool ready = false;
  int status = 0;
  for (;;) {
    pollfd fds[2] = {{sock.get(), POLLIN, 0}, {signals.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[0].revents & POLLIN) {
      char buf[4096];
      const ssize_t n = ::recv(sock.get(), buf, sizeof(buf) - 1, 0);
      if (n > 0 && !ready) {
        buf[n] = '\0';
        if (std::strstr(buf, "READY=1") != nullptr) {
          ready = true;
          const double ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count();
          if (FILE* f = std::fopen(ready_file.c_str(), "w")) {
            std::fprintf(f, "%.3f\n", ms);
            std::fclose(f);
          }
        }
      }
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(signals.get(), &info, sizeof(info)) != sizeof(info)) continue;
      if (info.ssi_signo != SIGCHLD) {
        ::kill(pid, static_cast<int>(info.ssi_signo));
        continue;
      }
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
    }
  }
  ::unlink(path.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
