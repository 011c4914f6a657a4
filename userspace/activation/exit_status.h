// How a service process ended, as waitid() reports it.
#ifndef GATEKEEPER_ACTIVATION_EXIT_STATUS_H_
#define GATEKEEPER_ACTIVATION_EXIT_STATUS_H_

#include <signal.h>

#include <string>

namespace gatekeeper::activation {

struct ExitStatus {
  enum class Kind { kExited, kKilled, kDumped };
  Kind kind = Kind::kExited;
  int code = 0;  // the exit status for kExited, the signal number otherwise

  static ExitStatus Exited(int status) { return {Kind::kExited, status}; }
  static ExitStatus Killed(int signal) { return {Kind::kKilled, signal}; }
  // From waitid()'s siginfo: si_code (CLD_EXITED, CLD_KILLED, CLD_DUMPED) and si_status.
  static ExitStatus FromSiginfo(int code, int status);

  // Exit status 0, or one of the signals systemd treats as a clean stop (SIGHUP, SIGINT,
  // SIGTERM, SIGPIPE): Restart=on-failure does not restart then, as in systemd.service(5).
  bool Clean() const;
  bool Success() const { return kind == Kind::kExited && code == 0; }

  // "exited with status 1", "killed by signal 9 (SIGKILL)", "dumped core on signal 11 (SIGSEGV)"
  std::string ToString() const;

  friend bool operator==(const ExitStatus&, const ExitStatus&) = default;
};

}  // namespace gatekeeper::activation

#endif  // GATEKEEPER_ACTIVATION_EXIT_STATUS_H_
