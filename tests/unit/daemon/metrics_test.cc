#include "daemon/metrics.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace gatekeeper::daemon {
namespace {

TEST(MetricsTest, CountersStatesAndResyncsInExpositionFormat) {
  GateStatus web;
  web.name = "web";
  web.state = GateState::kRunning;
  web.service.restarts = 2;
  web.socket_counters.allowed[0] = {.packets = 8, .bytes = 432};
  web.socket_counters.denied[0] = {.packets = 3, .bytes = 180};
  web.socket_counters.events_suppressed = 5;
  const std::string text = RenderMetrics({web}, 4);
  for (const char* line : {
           "# TYPE gatekeeper_packets_total counter\n",
           "gatekeeper_packets_total{gate=\"web\",direction=\"ingress\",verdict=\"allowed\"} 8\n",
           "gatekeeper_packets_total{gate=\"web\",direction=\"ingress\",verdict=\"denied\"} 3\n",
           "gatekeeper_bytes_total{gate=\"web\",direction=\"ingress\",verdict=\"denied\"} 180\n",
           "gatekeeper_packets_total{gate=\"web\",direction=\"egress\",verdict=\"denied\"} 0\n",
           "gatekeeper_gate_state{gate=\"web\",state=\"running\"} 1\n",
           "gatekeeper_gate_state{gate=\"web\",state=\"waiting-device\"} 0\n",
           "gatekeeper_service_restarts_total{gate=\"web\"} 2\n",
           "gatekeeper_denial_events_total{gate=\"web\",outcome=\"suppressed\"} 5\n",
           "gatekeeper_netlink_resyncs_total 4\n",
       }) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "\nin:\n" << text;
  }
  // Every sample line belongs to a declared metric family.
  for (absl::string_view l : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (l[0] == '#') continue;
    const std::string family(l.substr(0, l.find_first_of("{ ")));
    EXPECT_TRUE(absl::StrContains(text, "# TYPE " + family + " ")) << l;
  }
}

TEST(MetricsTest, DenialEventsLoggedAndSuppressedByKernelAndUserspace) {
  GateStatus web;
  web.name = "web";
  web.socket_counters.events_sent = 40;
  web.socket_counters.events_suppressed = 7;
  GateStatus db;
  db.name = "db";
  const std::map<std::string, DenialCounters> denials = {
      {"web", {.received = 40, .logged = 12, .suppressed = 28}},
      {"host", {.received = 3, .logged = 3, .suppressed = 0}},
  };
  const std::string text = RenderMetrics({web, db}, 0, denials);
  const auto family = [&text](const std::string& name) {
    std::string out;
    for (absl::string_view l : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(l, name + "{") || absl::StartsWith(l, "# TYPE " + name + " ")) {
        absl::StrAppend(&out, l, "\n");
      }
    }
    return out;
  };
  EXPECT_EQ(family("gatekeeper_denial_events_logged_total"),
            "# TYPE gatekeeper_denial_events_logged_total counter\n"
            "gatekeeper_denial_events_logged_total{gate=\"web\"} 12\n"
            "gatekeeper_denial_events_logged_total{gate=\"db\"} 0\n");
  EXPECT_EQ(family("gatekeeper_denial_events_suppressed_total"),
            "# TYPE gatekeeper_denial_events_suppressed_total counter\n"
            "gatekeeper_denial_events_suppressed_total{gate=\"web\",by=\"kernel\"} 7\n"
            "gatekeeper_denial_events_suppressed_total{gate=\"web\",by=\"userspace\"} 28\n"
            "gatekeeper_denial_events_suppressed_total{gate=\"db\",by=\"kernel\"} 0\n"
            "gatekeeper_denial_events_suppressed_total{gate=\"db\",by=\"userspace\"} 0\n");
  // The kernel-side family is unchanged.
  EXPECT_EQ(family("gatekeeper_denial_events_total"),
            "# TYPE gatekeeper_denial_events_total counter\n"
            "gatekeeper_denial_events_total{gate=\"web\",outcome=\"sent\"} 40\n"
            "gatekeeper_denial_events_total{gate=\"web\",outcome=\"suppressed\"} 7\n"
            "gatekeeper_denial_events_total{gate=\"web\",outcome=\"lost\"} 0\n"
            "gatekeeper_denial_events_total{gate=\"db\",outcome=\"sent\"} 0\n"
            "gatekeeper_denial_events_total{gate=\"db\",outcome=\"suppressed\"} 0\n"
            "gatekeeper_denial_events_total{gate=\"db\",outcome=\"lost\"} 0\n");
  // Counters of what is not a gate (the host scope) do not become a gate label.
  EXPECT_FALSE(absl::StrContains(text, "gate=\"host\"")) << text;
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  GateStatus g;
  g.name = "a\"b\\c";
  EXPECT_TRUE(absl::StrContains(RenderMetrics({g}, 0), "gate=\"a\\\"b\\\\c\""));
}

}  // namespace
}  // namespace gatekeeper::daemon
