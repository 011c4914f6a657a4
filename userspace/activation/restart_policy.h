// Restart= with backoff and a start rate limit, as pure bookkeeping: the daemon reports starts
// and exits with the time, and arms a timer for the answer. No clock is read here.
//
// The rules (systemd's where systemd has one):
//  - Restart=no never restarts; on-failure restarts unless ExitStatus::Clean(); always restarts.
//    A stop the daemon asked for is not an exit to report: it never restarts.
//  - Delay: RestartSec= (default 100 ms, as systemd) doubled for every consecutive failure, capped
//    at `max_delay` (30 s) -- never below RestartSec= itself. Between failures clients wait in
//    the listener's backlog, so a crash loop costs connect latency, not refusals.
//  - The doubling starts over once a run has lasted `stable_after` (10 s): a service that crashes
//    once a day restarts after RestartSec=, not after the cap.
//  - Start limit: more than StartLimitBurst= (5) starts within any StartLimitIntervalSec= (10 s)
//    window and the gate fails instead of starting again. Every start counts, also a start on a
//    new connection after a clean exit. The window slides (systemd's is fixed from the first start
//    in it; sliding is never more lenient). A burst or interval of 0 disables the limit, as in
//    systemd.
#ifndef GATEKEEPER_ACTIVATION_RESTART_POLICY_H_
#define GATEKEEPER_ACTIVATION_RESTART_POLICY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "activation/exit_status.h"

namespace gatekeeper::activation {

enum class RestartMode { kNo, kOnFailure, kAlways };

// "no", "on-failure", "always"; InvalidArgument naming the value otherwise (systemd's other modes
// -- on-success, on-abnormal, on-watchdog, on-abort -- are not supported).
absl::StatusOr<RestartMode> ParseRestartMode(absl::string_view text);
absl::string_view RestartModeName(RestartMode mode);

struct RestartSettings {
  RestartMode mode = RestartMode::kNo;
  absl::Duration restart_sec = absl::Milliseconds(100);
  absl::Duration max_delay = absl::Seconds(30);
  absl::Duration stable_after = absl::Seconds(10);
  int start_limit_burst = 5;
  absl::Duration start_limit_interval = absl::Seconds(10);
};

struct RestartDecision {
  enum class Action {
    kStop,     // do not restart; the gate keeps listening (a connection may start it again)
    kRestart,  // start again at `at`
    kFail,     // the start limit is hit: the gate becomes failed with `reason`
  };
  Action action = Action::kStop;
  absl::Time at;         // kRestart: when to start
  absl::Duration delay;  // kRestart: `at` minus the exit time
  std::string reason;    // for the log and `gatekeeper status`
};

class RestartTracker {
 public:
  explicit RestartTracker(RestartSettings settings) : settings_(settings) {}

  // Call right before every start. FailedPrecondition naming the limit when it would exceed the
  // start limit: do not start, the gate fails. Otherwise the start is recorded.
  absl::Status RecordStart(absl::Time now);

  // The service exited at `now` with `status`.
  RestartDecision OnExit(const ExitStatus& status, absl::Time now);
  // Spawn() failed at `now` (the program is missing, the user cannot be set, ...): a failure that
  // ran for no time at all.
  RestartDecision OnStartFailure(absl::string_view error, absl::Time now);

  // Forget failures and starts: an operator's reset or a reload with a changed service.
  void Reset();

  // How many restarts in a row followed a short run; the next delay is RestartSec= * 2^this.
  int backoff_step() const { return backoff_step_; }
  const RestartSettings& settings() const { return settings_; }

 private:
  RestartDecision Decide(bool restart, const std::string& what, absl::Time now);
  absl::Duration Delay() const;
  bool LimitEnabled() const;
  // Starts recorded within the window that ends at `at`.
  int StartsInWindow(absl::Time at) const;
  std::string LimitText() const;

  RestartSettings settings_;
  // Within the last start_limit_interval, oldest first. A vector: an empty std::deque already
  // holds a 512-byte block, and every gate's service has a tracker.
  std::vector<absl::Time> starts_;
  std::optional<absl::Time> last_start_;
  int backoff_step_ = 0;
};

}  // namespace gatekeeper::activation

#endif  // GATEKEEPER_ACTIVATION_RESTART_POLICY_H_
