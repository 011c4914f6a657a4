#include "activation/restart_policy.h"

#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::activation {
namespace {

using ::testing::HasSubstr;
using Action = RestartDecision::Action;

const absl::Time kEpoch = absl::FromUnixSeconds(1700000000);

// A fake clock: the tracker never reads time itself, the test moves `now`.
class RestartTrackerTest : public ::testing::Test {
 protected:
  RestartTracker Tracker(RestartMode mode) {
    RestartSettings s;
    s.mode = mode;
    return RestartTracker(s);
  }
  absl::Time now_ = kEpoch;
};

TEST(RestartModeTest, ParsesSystemdNames) {
  EXPECT_EQ(*ParseRestartMode("no"), RestartMode::kNo);
  EXPECT_EQ(*ParseRestartMode("on-failure"), RestartMode::kOnFailure);
  EXPECT_EQ(*ParseRestartMode("always"), RestartMode::kAlways);
  const absl::Status s = ParseRestartMode("on-abnormal").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("on-abnormal"));
  EXPECT_EQ(RestartModeName(RestartMode::kOnFailure), "on-failure");
}

TEST_F(RestartTrackerTest, NoNeverRestarts) {
  RestartTracker t = Tracker(RestartMode::kNo);
  ASSERT_TRUE(t.RecordStart(now_).ok());
  const RestartDecision d = t.OnExit(ExitStatus::Exited(1), now_ + absl::Seconds(1));
  EXPECT_EQ(d.action, Action::kStop);
  EXPECT_THAT(d.reason, HasSubstr("exited with status 1"));
  EXPECT_EQ(t.OnStartFailure("exec: gone", now_).action, Action::kStop);
}

TEST_F(RestartTrackerTest, OnFailureFollowsSystemdCleanExits) {
  const struct {
    ExitStatus status;
    Action action;
  } cases[] = {
      {ExitStatus::Exited(0), Action::kStop},
      {ExitStatus::Exited(1), Action::kRestart},
      {ExitStatus::Exited(127), Action::kRestart},
      {ExitStatus::Killed(SIGTERM), Action::kStop},
      {ExitStatus::Killed(SIGHUP), Action::kStop},
      {ExitStatus::Killed(SIGINT), Action::kStop},
      {ExitStatus::Killed(SIGPIPE), Action::kStop},
      {ExitStatus::Killed(SIGKILL), Action::kRestart},
      {ExitStatus::Killed(SIGABRT), Action::kRestart},
      {{ExitStatus::Kind::kDumped, SIGSEGV}, Action::kRestart},
  };
  for (const auto& c : cases) {
    RestartTracker t = Tracker(RestartMode::kOnFailure);
    ASSERT_TRUE(t.RecordStart(now_).ok());
    EXPECT_EQ(t.OnExit(c.status, now_ + absl::Seconds(1)).action, c.action) << c.status.ToString();
  }
}

TEST_F(RestartTrackerTest, AlwaysRestartsAfterCleanExit) {
  RestartTracker t = Tracker(RestartMode::kAlways);
  ASSERT_TRUE(t.RecordStart(now_).ok());
  const RestartDecision d = t.OnExit(ExitStatus::Exited(0), now_ + absl::Seconds(1));
  EXPECT_EQ(d.action, Action::kRestart);
  EXPECT_EQ(d.delay, absl::Milliseconds(100));
  EXPECT_EQ(d.at, now_ + absl::Seconds(1) + absl::Milliseconds(100));
  EXPECT_THAT(d.reason, HasSubstr("restarting in 100ms"));
}

// Starts and crashes at once, `count` times, each restart at the time the tracker asked for;
// returns the delays. The start limit is off so that only the backoff shows.
std::vector<absl::Duration> CrashLoop(RestartSettings s, int count, absl::Time* now) {
  s.start_limit_burst = 0;
  RestartTracker t(s);
  std::vector<absl::Duration> delays;
  for (int i = 0; i < count; ++i) {
    EXPECT_TRUE(t.RecordStart(*now).ok());
    const RestartDecision d = t.OnExit(ExitStatus::Exited(1), *now + absl::Milliseconds(1));
    EXPECT_EQ(d.action, Action::kRestart);
    delays.push_back(d.delay);
    *now = d.at;
  }
  return delays;
}

TEST_F(RestartTrackerTest, BackoffDoublesUpToTheCap) {
  RestartSettings s;
  s.mode = RestartMode::kOnFailure;
  const std::vector<absl::Duration> delays = CrashLoop(s, 12, &now_);
  const std::vector<absl::Duration> want = {
      absl::Milliseconds(100),  absl::Milliseconds(200),   absl::Milliseconds(400),
      absl::Milliseconds(800),  absl::Milliseconds(1600),  absl::Milliseconds(3200),
      absl::Milliseconds(6400), absl::Milliseconds(12800), absl::Milliseconds(25600),
      absl::Seconds(30),        absl::Seconds(30),         absl::Seconds(30)};
  EXPECT_EQ(delays, want);
}

TEST_F(RestartTrackerTest, RestartSecAboveTheCapIsKept) {
  RestartSettings s;
  s.mode = RestartMode::kAlways;
  s.restart_sec = absl::Seconds(60);
  EXPECT_EQ(CrashLoop(s, 3, &now_), std::vector<absl::Duration>(3, absl::Seconds(60)));
}

TEST_F(RestartTrackerTest, ZeroRestartSecStaysZero) {
  RestartSettings s;
  s.mode = RestartMode::kAlways;
  s.restart_sec = absl::ZeroDuration();
  EXPECT_EQ(CrashLoop(s, 3, &now_), std::vector<absl::Duration>(3, absl::ZeroDuration()));
}

TEST_F(RestartTrackerTest, StableRunResetsTheBackoff) {
  RestartSettings s;
  s.mode = RestartMode::kOnFailure;
  RestartTracker t(s);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(t.RecordStart(now_).ok());
    now_ = t.OnExit(ExitStatus::Exited(1), now_).at;
  }
  EXPECT_EQ(t.backoff_step(), 3);
  ASSERT_TRUE(t.RecordStart(now_).ok());
  // Ran just short of stable_after: the backoff keeps growing.
  RestartDecision d =
      t.OnExit(ExitStatus::Exited(1), now_ + absl::Seconds(10) - absl::Nanoseconds(1));
  EXPECT_EQ(d.delay, absl::Milliseconds(800));
  now_ = d.at;
  ASSERT_TRUE(t.RecordStart(now_).ok());
  d = t.OnExit(ExitStatus::Killed(SIGKILL), now_ + absl::Seconds(10));
  EXPECT_EQ(d.delay, absl::Milliseconds(100));
  EXPECT_EQ(t.backoff_step(), 1);
}

TEST_F(RestartTrackerTest, StartLimitAllowsFiveStartsInTenSeconds) {
  RestartTracker t = Tracker(RestartMode::kNo);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(t.RecordStart(now_ + absl::Seconds(i)).ok()) << i;
  }
  const absl::Status s = t.RecordStart(now_ + absl::Seconds(9));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("StartLimitBurst=5"));
  // The window slides: once the first start is 10 s old there is room for one more.
  EXPECT_FALSE(t.RecordStart(now_ + absl::Seconds(10) - absl::Nanoseconds(1)).ok());
  EXPECT_TRUE(t.RecordStart(now_ + absl::Seconds(10)).ok());
  EXPECT_FALSE(t.RecordStart(now_ + absl::Seconds(10)).ok());
}

TEST_F(RestartTrackerTest, CrashLoopFailsTheGateAtTheSixthStart) {
  RestartTracker t = Tracker(RestartMode::kOnFailure);
  int restarts = 0;
  for (;;) {
    ASSERT_TRUE(t.RecordStart(now_).ok());
    const RestartDecision d = t.OnExit(ExitStatus::Exited(1), now_);
    if (d.action == Action::kFail) {
      EXPECT_THAT(d.reason, HasSubstr("start limit hit"));
      EXPECT_THAT(d.reason, HasSubstr("exited with status 1"));
      break;
    }
    ASSERT_EQ(d.action, Action::kRestart);
    ++restarts;
    now_ = d.at;
  }
  // 100 + 200 + 400 + 800 ms of backoff keep five starts inside 10 s.
  EXPECT_EQ(restarts, 4);
  // Whatever the daemon then tries, the limit holds until the window has passed.
  EXPECT_FALSE(t.RecordStart(now_ + absl::Seconds(1)).ok());
  t.Reset();
  EXPECT_TRUE(t.RecordStart(now_ + absl::Seconds(1)).ok());
  EXPECT_EQ(t.backoff_step(), 0);
}

TEST_F(RestartTrackerTest, SlowCrashesNeverHitTheLimit) {
  RestartTracker t = Tracker(RestartMode::kAlways);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(t.RecordStart(now_).ok()) << i;
    const RestartDecision d = t.OnExit(ExitStatus::Exited(1), now_ + absl::Seconds(11));
    ASSERT_EQ(d.action, Action::kRestart) << i;
    EXPECT_EQ(d.delay, absl::Milliseconds(100));
    now_ = d.at;
  }
}

TEST_F(RestartTrackerTest, ZeroBurstDisablesTheLimit) {
  RestartSettings s;
  s.start_limit_burst = 0;
  RestartTracker t(s);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(t.RecordStart(now_).ok());
}

TEST_F(RestartTrackerTest, StartFailureBacksOffLikeACrash) {
  RestartTracker t = Tracker(RestartMode::kOnFailure);
  ASSERT_TRUE(t.RecordStart(now_).ok());
  RestartDecision d = t.OnStartFailure("exec /usr/bin/x: No such file or directory", now_);
  EXPECT_EQ(d.action, Action::kRestart);
  EXPECT_EQ(d.delay, absl::Milliseconds(100));
  EXPECT_THAT(d.reason, HasSubstr("failed to start: exec /usr/bin/x"));
  ASSERT_TRUE(t.RecordStart(d.at).ok());
  d = t.OnStartFailure("again", d.at);
  EXPECT_EQ(d.delay, absl::Milliseconds(200));
}

}  // namespace
}  // namespace gatekeeper::activation
