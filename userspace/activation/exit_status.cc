#include "activation/exit_status.h"

#include <string.h>  // sigabbrev_np
#include <sys/wait.h>

#include "absl/strings/str_cat.h"

namespace gatekeeper::activation {
namespace {

std::string SignalText(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? absl::StrCat(signal, " (SIG", abbrev, ")") : absl::StrCat(signal);
}

}  // namespace

ExitStatus ExitStatus::FromSiginfo(int code, int status) {
  switch (code) {
    case CLD_KILLED:
      return {Kind::kKilled, status};
    case CLD_DUMPED:
      return {Kind::kDumped, status};
    default:
      return {Kind::kExited, status};
  }
}

bool ExitStatus::Clean() const {
  if (kind == Kind::kExited) return code == 0;
  if (kind == Kind::kDumped) return false;
  return code == SIGHUP || code == SIGINT || code == SIGTERM || code == SIGPIPE;
}

std::string ExitStatus::ToString() const {
  switch (kind) {
    case Kind::kExited:
      return absl::StrCat("exited with status ", code);
    case Kind::kKilled:
      return absl::StrCat("killed by signal ", SignalText(code));
    case Kind::kDumped:
      return absl::StrCat("dumped core on signal ", SignalText(code));
  }
  return "?";
}

}  // namespace gatekeeper::activation
