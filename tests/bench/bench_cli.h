// What the benchmark tools share: option splitting and the signals that stop them.
#ifndef GATEKEEPER_TESTS_BENCH_BENCH_CLI_H_
#define GATEKEEPER_TESTS_BENCH_BENCH_CLI_H_

#include <signal.h>
#include <sys/signalfd.h>

#include "absl/strings/string_view.h"
#include "common/unique_fd.h"

namespace gatekeeper::bench {

// Takes option argv[i] as "--name=value" or "--name value" (advancing i). Sets `arg` to the name
// and `value` to its value; false when the value is missing.
inline bool TakeOption(int argc, char** argv, int& i, absl::string_view& arg,
                       absl::string_view& value) {
  arg = argv[i];
  if (const size_t eq = arg.find('='); eq != absl::string_view::npos) {
    value = arg.substr(eq + 1);
    arg = arg.substr(0, eq);
    return true;
  }
  if (i + 1 >= argc) return false;
  value = argv[++i];
  return true;
}

// A signalfd for SIGTERM and SIGINT, both blocked; an invalid fd (errno set) on failure.
// A shell starts background jobs with SIGINT ignored, and an ignored signal never reaches the
// signalfd: `kill -INT` must stop us all the same, so both go back to their default first.
inline common::UniqueFd StopSignals() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return common::UniqueFd();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return common::UniqueFd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
}

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_BENCH_CLI_H_
