// Denial events from the kernel become log lines naming gate, direction, protocol, peer and the
// rule that decided; the last few per gate are kept for `gatekeeper status`.
#ifndef GATEKEEPER_DAEMON_DENIAL_LOG_H_
#define GATEKEEPER_DAEMON_DENIAL_LOG_H_

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/event_loop.h"
#include "kernel/denial_events.h"
#include "nlohmann/json.hpp"
#include "policy/compiler.h"

namespace gatekeeper::daemon {

class DenialLog {
 public:
  static constexpr size_t kRecentPerGate = 8;
  using Logger = std::function<void(const std::string&)>;

  explicit DenialLog(Logger log) : log_(std::move(log)) {}
  // `kind`: "socket", "service" or "host". The policy names the rules in the log lines.
  void AddScope(uint32_t scope_id, std::string gate, std::string kind,
                policy::CompiledPolicy policy);
  absl::StatusOr<EventSource> Attach(EventLoop& loop, int ring_buffer_fd);
  // One line per event, e.g. "gate web: denied ingress tcp 198.51.100.3:40312 -> port 8443
  // (web.gate:4 IPAddressDeny=any)".
  std::string Describe(const kernel::DenialEvent& event) const;
  nlohmann::json Recent(const std::string& gate) const;
  // The compiled policy of a gate's scope ("socket", "service") or of the host ("host", any
  // gate name); nullptr when there is none.
  const policy::CompiledPolicy* FindPolicy(const std::string& gate, const std::string& kind) const;

 private:
  struct ScopeInfo {
    std::string gate;
    std::string kind;
    policy::CompiledPolicy policy;
  };
  void OnEvent(const kernel::DenialEvent& event);

  Logger log_;
  std::map<uint32_t, ScopeInfo> scopes_;
  std::map<std::string, std::deque<std::string>> recent_;
  std::optional<kernel::DenialEventReader> reader_;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_DENIAL_LOG_H_
