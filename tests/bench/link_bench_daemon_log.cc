#include "tests/bench/link_bench_daemon_log.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/bench/link_bench_topology.h"

namespace gatekeeper::bench {

void Scan(const std::deque<LogLine>& lines, LogEvents& ev) {
  const std::string gate = absl::StrCat("gate ", kGateName, ": ");
  for (const LogLine& l : lines) {
    const std::string& t = l.text;
    if (t.size() >= 3 && t[0] == '<' && t[1] >= '0' && t[1] <= '4' && t[2] == '>') {
      if (absl::StrContains(t, ": denied ingress tcp from ") ||
          absl::StrContains(t, " more denials suppressed ")) {
        ++ev.denial_lines;
      } else if (++ev.warnings <= 5) {
        ev.first_warnings.push_back(t);
      }
    }
    const size_t at = t.find(gate);
    if (at == std::string::npos) continue;
    const absl::string_view rest = absl::string_view(t).substr(at + gate.size());
    if (absl::StartsWith(rest, absl::StrCat("device ", kServerDevice, " is down")) ||
        absl::StartsWith(rest, absl::StrCat("device ", kServerDevice, " is gone"))) {
      ev.away = true;
    } else if (absl::StartsWith(rest, "listening on")) {
      if (!ev.listening_ns) ev.listening_ns = l.read_ns;
    } else if (absl::StartsWith(rest, "listening ") &&
               absl::EndsWith(rest, " after the link event")) {
      // The daemon's own measure, from its netlink wakeup to the gate listening.
      absl::string_view d = rest.substr(10);
      d.remove_suffix(absl::string_view(" after the link event").size());
      if (absl::Duration dur; absl::ParseDuration(d, &dur)) {
        ev.daemon_reported_ms.push_back(absl::ToDoubleMilliseconds(dur));
      }
    } else if (absl::StartsWith(rest, "service started")) {
      ++ev.service_starts;
    }
  }
}

}  // namespace gatekeeper::bench
