// Denial log lines and their rate limit, driven through OnEvent with a fake clock: no ring
// buffer, no event loop, no root.
#include "daemon/denial_log.h"

#include <netinet/in.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gate_abi.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint32_t kWebSocket = 2;
constexpr uint32_t kWebService = 3;
constexpr uint32_t kDbSocket = 4;

policy::SharedPolicy DenyAnyAt(const std::string& file, int line) {
  policy::Entry entry;
  entry.prefix = policy::Prefix::Make(policy::Address::V4(0, 0, 0, 0), 0);
  entry.token = "any";
  entry.origin = {.file = file, .line = line, .key = "IPAddressDeny"};
  auto source = std::make_shared<const std::vector<policy::Entry>>(1, entry);
  policy::CompiledPolicy p;
  p.rules.push_back({.id = 1, .action = policy::Action::kDeny, .entry = source->data()});
  p.sources.push_back(std::move(source));
  return policy::Share(std::move(p));
}

kernel::DenialEvent Event(uint32_t scope, policy::Address peer, uint16_t peer_port = 40312,
                          kernel::Direction direction = kernel::Direction::kIngress) {
  kernel::DenialEvent e;
  e.scope_id = scope;
  e.rule_id = 1;
  e.direction = direction;
  e.protocol = IPPROTO_TCP;
  e.has_ports = true;
  e.local_port = 8443;
  e.remote_port = peer_port;
  e.remote = peer;
  e.local = policy::Address::V4(192, 0, 2, 1);
  return e;
}

class DenialLogTest : public ::testing::Test {
 protected:
  DenialLogTest() {
    log_.AddScope(kWebSocket, "web", "socket", DenyAnyAt("web.gate", 4));
    log_.AddScope(kWebService, "web", "service", DenyAnyAt("web.gate", 9));
    log_.AddScope(kDbSocket, "db", "socket", DenyAnyAt("db.gate", 2));
  }

  std::vector<std::string> LinesWith(const std::string& needle) const {
    std::vector<std::string> out;
    for (const std::string& l : lines_) {
      if (absl::StrContains(l, needle)) out.push_back(l);
    }
    return out;
  }

  const absl::Time t0_ = absl::FromUnixSeconds(1000);
  const policy::Address peer_ = policy::Address::V4(198, 51, 100, 3);
  std::vector<std::string> lines_;
  // The clock is only for the event loop path; the tests pass the time to OnEvent and Flush.
  DenialLog log_{[this](const std::string& l) { lines_.push_back(l); },
                 [] { return absl::InfinitePast(); }};
};

TEST_F(DenialLogTest, LineNamesGateDirectionProtocolPeerLocalPortAndRule) {
  log_.OnEvent(Event(kWebSocket, peer_), t0_);
  log_.OnEvent(
      Event(kWebService, *policy::Address::Parse("2001:db8::7"), 53, kernel::Direction::kEgress),
      t0_);
  EXPECT_THAT(lines_, ElementsAre("<4>gate web: denied ingress tcp from 198.51.100.3:40312, local "
                                  "port 8443 (web.gate:4 IPAddressDeny=any)",
                                  "<4>gate web (service): denied egress tcp to [2001:db8::7]:53, "
                                  "local port 8443 (web.gate:9 IPAddressDeny=any)"));
}

TEST_F(DenialLogTest, SpecialCausesAndHost) {
  log_.AddScope(1, "host", "host", DenyAnyAt("host.conf", 1));
  kernel::DenialEvent device = Event(kWebSocket, peer_);
  device.rule_id = GK_RULE_DEVICE;
  kernel::DenialEvent host = Event(1, peer_);
  host.has_ports = false;
  host.protocol = IPPROTO_ICMP;
  log_.OnEvent(device, t0_);
  log_.OnEvent(host, t0_);
  EXPECT_THAT(lines_, ElementsAre(HasSubstr("(arrived on another device than the gate's)"),
                                  "<4>host: denied ingress ip from 198.51.100.3 (host.conf:1 "
                                  "IPAddressDeny=any)"));
  EXPECT_EQ(log_.Counters("host").received, 1U);
}

TEST_F(DenialLogTest, FloodInOneInstantIsBoundedAndCountedExactly) {
  constexpr uint64_t kEvents = 100'000;
  for (uint64_t i = 0; i < kEvents; ++i) {
    log_.OnEvent(Event(kWebSocket, peer_, static_cast<uint16_t>(1024 + i % 60000)), t0_);
  }
  EXPECT_EQ(lines_.size(), static_cast<size_t>(DenialLog::kBurstLines));
  EXPECT_TRUE(LinesWith("suppressed").empty());
  const DenialCounters c = log_.Counters("web");
  EXPECT_EQ(c.received, kEvents);
  EXPECT_EQ(c.logged, static_cast<uint64_t>(DenialLog::kBurstLines));
  EXPECT_EQ(c.logged + c.suppressed, kEvents);
  // The last few denials still show the newest events, suppressed ones included.
  EXPECT_EQ(log_.Recent("web").size(), DenialLog::kRecentPerGate);
  EXPECT_THAT(log_.Recent("web").back().get<std::string>(),
              HasSubstr(absl::StrCat(":", 1024 + (kEvents - 1) % 60000, ",")));

  // Nothing due before the window ends.
  log_.Flush(t0_ + absl::Seconds(1));
  EXPECT_TRUE(LinesWith("suppressed").empty());
  log_.Flush(t0_ + DenialLog::kSummaryInterval);
  EXPECT_THAT(LinesWith("suppressed"),
              ElementsAre(absl::StrCat("<4>gate web: ", kEvents - 10,
                                       " more denials suppressed in the last 2.0 s, all ingress "
                                       "tcp from 198.51.100.3")));
  // Reported once only.
  log_.Flush(t0_ + absl::Seconds(10));
  EXPECT_EQ(LinesWith("suppressed").size(), 1U);
}

TEST_F(DenialLogTest, SummaryComesWithTheNextLineOnceTheFloodIsOver) {
  for (int i = 0; i < 15; ++i) log_.OnEvent(Event(kWebSocket, peer_), t0_);
  log_.OnEvent(Event(kWebSocket, policy::Address::V4(203, 0, 113, 9)), t0_);
  ASSERT_EQ(lines_.size(), 10U);
  // One second refills the bucket: the flood is over, its summary goes before the next line.
  log_.OnEvent(Event(kWebSocket, peer_), t0_ + absl::Milliseconds(1500));
  ASSERT_EQ(lines_.size(), 12U);
  EXPECT_EQ(lines_[10],
            "<4>gate web: 6 more denials suppressed in the last 1.5 s, 5 of them ingress tcp from "
            "198.51.100.3");
  EXPECT_THAT(lines_[11], StartsWith("<4>gate web: denied ingress tcp from 198.51.100.3"));
  EXPECT_EQ(log_.Counters("web"), (DenialCounters{.received = 17, .logged = 11, .suppressed = 6}));
}

TEST_F(DenialLogTest, SteadyFloodGivesSteadyLinesAndPeriodicSummaries) {
  // 1000 events a second for 10 s, no event loop: the summaries come with the events.
  uint64_t events = 0;
  for (int ms = 0; ms < 10'000; ++ms) {
    log_.OnEvent(Event(kWebSocket, peer_), t0_ + absl::Milliseconds(ms));
    ++events;
  }
  const auto summaries = LinesWith("suppressed");
  const size_t denied = lines_.size() - summaries.size();
  // The burst, then the refill rate.
  EXPECT_LE(denied, static_cast<size_t>(DenialLog::kBurstLines + 10 * DenialLog::kLinesPerSecond));
  EXPECT_GE(denied, static_cast<size_t>(10 * DenialLog::kLinesPerSecond));
  // One per window of kSummaryInterval.
  EXPECT_GE(summaries.size(), 4U);
  EXPECT_LE(summaries.size(), 5U);
  const DenialCounters c = log_.Counters("web");
  EXPECT_EQ(c.received, events);
  EXPECT_EQ(c.logged, denied);
  EXPECT_EQ(c.logged + c.suppressed, events);
  // What the summaries report plus what is still pending is what was suppressed.
  uint64_t reported = 0;
  for (const std::string& s : summaries) {
    reported += std::stoull(s.substr(s.find(": ") + 2));
  }
  log_.Flush(t0_ + absl::Seconds(60));
  const auto last = LinesWith("suppressed").back();
  reported += std::stoull(last.substr(last.find(": ") + 2));
  EXPECT_EQ(reported, c.suppressed);
}

TEST_F(DenialLogTest, AFloodOnOneGateDoesNotSilenceAnother) {
  for (int i = 0; i < 1000; ++i) log_.OnEvent(Event(kWebSocket, peer_), t0_);
  log_.OnEvent(Event(kDbSocket, peer_), t0_);
  EXPECT_EQ(LinesWith("gate db: denied").size(), 1U);
  EXPECT_EQ(log_.Counters("db"), (DenialCounters{.received = 1, .logged = 1, .suppressed = 0}));
  log_.Flush(t0_ + absl::Seconds(3));
  EXPECT_EQ(LinesWith("gate web: 990 more denials suppressed").size(), 1U);
  EXPECT_TRUE(LinesWith("gate db: ").size() == 1U);
  EXPECT_EQ(log_.AllCounters().size(), 2U);
  EXPECT_EQ(log_.Counters("nope"), DenialCounters{});
}

TEST_F(DenialLogTest, ScopesOfAGateShareItsLimit) {
  for (int i = 0; i < 10; ++i) log_.OnEvent(Event(kWebSocket, peer_), t0_);
  log_.OnEvent(Event(kWebService, peer_, 53, kernel::Direction::kEgress), t0_);
  log_.Flush(t0_ + absl::Seconds(2));
  EXPECT_EQ(lines_.back(),
            "<4>gate web: 1 more denial suppressed in the last 2.0 s, all egress tcp to "
            "198.51.100.3");
}

TEST_F(DenialLogTest, ClockGoingBackDoesNotBreakTheLimit) {
  for (int i = 0; i < 20; ++i) log_.OnEvent(Event(kWebSocket, peer_), t0_);
  for (int i = 0; i < 20; ++i) log_.OnEvent(Event(kWebSocket, peer_), t0_ - absl::Hours(1));
  EXPECT_EQ(log_.Counters("web").logged, 10U);
  EXPECT_EQ(log_.Counters("web").suppressed, 30U);
}

TEST(DenialLogTimerTest, OneShotSummaryTimerOnlyWhileSomethingIsSuppressed) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  absl::Time now = t0;
  std::vector<std::string> lines;
  DenialLog log([&lines](const std::string& l) { lines.push_back(l); }, [&now] { return now; });
  log.AddScope(kWebSocket, "web", "socket", DenyAnyAt("web.gate", 4));
  log.UseLoop(**loop);
  const kernel::DenialEvent e = Event(kWebSocket, policy::Address::V4(198, 51, 100, 3));

  for (int i = 0; i < 10; ++i) log.OnEvent(e, t0);
  EXPECT_FALSE(log.summary_timer_armed());  // lines only, nothing to report later
  // The timer runs on the clock, not on the events' time: the events are read late here so that
  // the window ends 100 ms (real time) after they are, and the test does not wait 2 s.
  now = t0 + DenialLog::kSummaryInterval - absl::Milliseconds(100);
  for (int i = 0; i < 5; ++i) log.OnEvent(e, t0);
  EXPECT_TRUE(log.summary_timer_armed());

  now = t0 + DenialLog::kSummaryInterval;
  ASSERT_GE(sd_event_run((*loop)->get(), 5'000'000), 0);
  EXPECT_EQ(lines.back(),
            "<4>gate web: 5 more denials suppressed in the last 2.0 s, all ingress tcp from "
            "198.51.100.3");
  EXPECT_FALSE(log.summary_timer_armed());  // idle again

  log.OnEvent(e, now);
  EXPECT_FALSE(log.summary_timer_armed());
  EXPECT_EQ(log.Counters("web"), (DenialCounters{.received = 16, .logged = 11, .suppressed = 5}));
}

}  // namespace
}  // namespace gatekeeper::daemon
