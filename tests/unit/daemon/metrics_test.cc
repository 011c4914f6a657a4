#include "daemon/metrics.h"

#include "absl/strings/match.h"
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

TEST(MetricsTest, LabelValuesAreEscaped) {
  GateStatus g;
  g.name = "a\"b\\c";
  EXPECT_TRUE(absl::StrContains(RenderMetrics({g}, 0), "gate=\"a\\\"b\\\\c\""));
}

}  // namespace
}  // namespace gatekeeper::daemon
