#include "activation/restart_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gatekeeper::activation {

absl::StatusOr<RestartMode> ParseRestartMode(absl::string_view text) {
  if (text == "no") return RestartMode::kNo;
  if (text == "on-failure") return RestartMode::kOnFailure;
  if (text == "always") return RestartMode::kAlways;
  return absl::InvalidArgumentError(
      absl::StrCat("Restart=", text, " is not supported (use no, on-failure or always)"));
}

absl::string_view RestartModeName(RestartMode mode) {
  switch (mode) {
    case RestartMode::kNo:
      return "no";
    case RestartMode::kOnFailure:
      return "on-failure";
    case RestartMode::kAlways:
      return "always";
  }
  return "?";
}

bool RestartTracker::LimitEnabled() const {
  return settings_.start_limit_burst > 0 && settings_.start_limit_interval > absl::ZeroDuration();
}

int RestartTracker::StartsInWindow(absl::Time at) const {
  const absl::Time window_start = at - settings_.start_limit_interval;
  return static_cast<int>(std::count_if(starts_.begin(), starts_.end(),
                                        [&](absl::Time t) { return t > window_start; }));
}

std::string RestartTracker::LimitText() const {
  return absl::StrCat("start limit hit: more than ", settings_.start_limit_burst, " starts within ",
                      absl::FormatDuration(settings_.start_limit_interval),
                      " (StartLimitBurst=", settings_.start_limit_burst, ", StartLimitIntervalSec=",
                      absl::FormatDuration(settings_.start_limit_interval), ")");
}

absl::Status RestartTracker::RecordStart(absl::Time now) {
  if (LimitEnabled()) {
    const absl::Time cutoff = now - settings_.start_limit_interval;
    starts_.erase(starts_.begin(), std::find_if(starts_.begin(), starts_.end(),
                                                [&](absl::Time t) { return t > cutoff; }));
    if (static_cast<int>(starts_.size()) >= settings_.start_limit_burst) {
      return absl::FailedPreconditionError(LimitText());
    }
    starts_.push_back(now);
  }
  last_start_ = now;
  return absl::OkStatus();
}

absl::Duration RestartTracker::Delay() const {
  const absl::Duration cap = std::max(settings_.max_delay, settings_.restart_sec);
  absl::Duration delay = settings_.restart_sec;
  for (int i = 0; i < backoff_step_ && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

RestartDecision RestartTracker::Decide(bool restart, const std::string& what, absl::Time now) {
  RestartDecision decision;
  if (!restart) {
    decision.reason =
        absl::StrCat(what, "; Restart=", RestartModeName(settings_.mode), ", not restarting");
    return decision;
  }
  decision.delay = Delay();
  decision.at = now + decision.delay;
  if (LimitEnabled() && StartsInWindow(decision.at) + 1 > settings_.start_limit_burst) {
    decision.action = RestartDecision::Action::kFail;
    decision.reason = absl::StrCat(what, "; ", LimitText());
    return decision;
  }
  ++backoff_step_;
  decision.action = RestartDecision::Action::kRestart;
  decision.reason = absl::StrCat(what, "; restarting in ", absl::FormatDuration(decision.delay));
  return decision;
}

RestartDecision RestartTracker::OnExit(const ExitStatus& status, absl::Time now) {
  // A run that lasted proves the service can start: the next delay starts from RestartSec= again.
  if (last_start_ && now - *last_start_ >= settings_.stable_after) backoff_step_ = 0;
  const bool restart = settings_.mode == RestartMode::kAlways ||
                       (settings_.mode == RestartMode::kOnFailure && !status.Clean());
  return Decide(restart, status.ToString(), now);
}

RestartDecision RestartTracker::OnStartFailure(absl::string_view error, absl::Time now) {
  return Decide(settings_.mode != RestartMode::kNo, absl::StrCat("failed to start: ", error), now);
}

void RestartTracker::Reset() {
  starts_.clear();
  last_start_.reset();
  backoff_step_ = 0;
}

}  // namespace gatekeeper::activation
