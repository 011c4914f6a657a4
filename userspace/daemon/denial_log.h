// Denial events from the kernel become log lines naming gate, direction, protocol, peer and the
// rule that decided; the last few per gate are kept for `gatekeeper status`.
//
// The kernel already rate-limits events per scope, but that limit is sized for the ring buffer,
// not for the journal: a gate under a scan would still write tens of lines a second, forever.
// So lines are rate-limited again here, per gate, with a token bucket; the events held back are
// counted and reported in one summary line per suppression window.
#ifndef GATEKEEPER_DAEMON_DENIAL_LOG_H_
#define GATEKEEPER_DAEMON_DENIAL_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/event_loop.h"
#include "kernel/denial_events.h"
#include "nlohmann/json.hpp"
#include "policy/address.h"
#include "policy/compiler.h"

namespace gatekeeper::daemon {

// Per gate; received == logged + suppressed at all times.
struct DenialCounters {
  uint64_t received = 0;    // events read from the ring buffer
  uint64_t logged = 0;      // events that got a log line of their own
  uint64_t suppressed = 0;  // events held back by the rate limit here, counted in summaries

  bool operator==(const DenialCounters&) const = default;
};

class DenialLog {
 public:
  static constexpr size_t kRecentPerGate = 8;
  // Token bucket per gate: a burst of lines, then a steady trickle while a flood lasts.
  static constexpr double kBurstLines = 10;
  static constexpr double kLinesPerSecond = 10;
  // While events are being suppressed, a summary is logged at the latest this long after the
  // first suppressed one (earlier when the flood is over and a line gets through again).
  static constexpr absl::Duration kSummaryInterval = absl::Seconds(2);
  // Distinct (direction, protocol, peer) kinds a summary window tracks, to name the top one.
  static constexpr size_t kMaxKinds = 8;

  using Logger = std::function<void(const std::string&)>;
  using Clock = std::function<absl::Time()>;

  // The default clock is CLOCK_MONOTONIC (as the event loop's timers): wall clock steps must not
  // open or close the rate limit.
  explicit DenialLog(Logger log, Clock clock = MonotonicNow);
  // `kind`: "socket", "service" or "host". The policy names the rules in the log lines. The
  // scopes of one gate share its rate limit and counters.
  void AddScope(uint32_t scope_id, std::string gate, std::string kind, policy::SharedPolicy policy);
  // Reads the ring buffer on `loop`; summaries of suppressed events are then also flushed from a
  // one-shot timer, armed only while something suppressed waits to be reported.
  absl::StatusOr<EventSource> Attach(EventLoop& loop, int ring_buffer_fd);
  // Just the summary timer's loop (Attach sets it); for tests without a ring buffer.
  void UseLoop(EventLoop& loop) { loop_ = &loop; }
  bool summary_timer_armed() const { return flush_timer_ != nullptr; }

  // One event as delivered by the ring buffer, at time `now` of the clock. Public for tests.
  void OnEvent(const kernel::DenialEvent& event, absl::Time now);
  // Logs the summary of every gate whose suppression window is due at `now`. The timer calls it.
  void Flush(absl::Time now);

  // One line per event, e.g. "gate web: denied ingress tcp from 198.51.100.3:40312, local port
  // 8443 (web.gate:4 IPAddressDeny=any)".
  std::string Describe(const kernel::DenialEvent& event) const;
  // The last few denials of a gate, suppressed ones included.
  nlohmann::json Recent(const std::string& gate) const;
  // Zero for a gate without events. The host scope counts as gate "host".
  DenialCounters Counters(const std::string& gate) const;
  // Every gate that had events, for the metrics.
  std::map<std::string, DenialCounters> AllCounters() const;
  // The compiled policy of a gate's scope ("socket", "service") or of the host ("host", any
  // gate name); nullptr when there is none.
  const policy::CompiledPolicy* FindPolicy(const std::string& gate, const std::string& kind) const;

  static absl::Time MonotonicNow();

 private:
  struct ScopeInfo {
    std::string gate;
    std::string kind;
    policy::SharedPolicy policy;  // never null
  };
  struct Kind {
    kernel::Direction direction;
    uint8_t protocol;
    policy::Address remote;
    uint64_t count;
  };
  struct GateLog {
    std::string who;  // "gate web", "host": how summaries name it
    double tokens = kBurstLines;
    absl::Time refilled;
    DenialCounters counters;
    uint64_t pending = 0;      // suppressed since the last summary
    absl::Time pending_since;  // first of those
    std::vector<Kind> kinds;   // of those, the first kMaxKinds distinct ones
    std::deque<std::string> recent;
  };

  GateLog& LogFor(const kernel::DenialEvent& event, absl::Time now);
  void Summarize(GateLog& g, absl::Time now);
  void ArmFlushTimer();

  Logger log_;
  Clock clock_;
  std::map<uint32_t, ScopeInfo> scopes_;
  std::map<std::string, GateLog> gates_;
  std::optional<kernel::DenialEventReader> reader_;
  EventLoop* loop_ = nullptr;
  EventSource flush_timer_;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_DENIAL_LOG_H_
