// The kernel-free half of the control socket: framing and validation of request lines, the
// decision who may talk to the daemon, and log rate limiting. Kept pure so the rules can be
// tested exhaustively without sockets or credential changes.
#ifndef GATEKEEPER_DAEMON_CONTROL_PROTOCOL_H_
#define GATEKEEPER_DAEMON_CONTROL_PROTOCOL_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace gatekeeper::daemon {

// Longest request line accepted, not counting its newline.
inline constexpr size_t kMaxRequestBytes = size_t{64} * 1024;

// Where a request line ends in what a client has sent so far.
struct RequestFrame {
  enum class State {
    kIncomplete,  // no newline yet, still within the limit: wait for more
    kComplete,    // `line` holds the request, without its newline
    kTooLarge,    // more than `limit` bytes and no newline: refuse
  };
  State state = State::kIncomplete;
  absl::string_view line;
};
RequestFrame FindRequestLine(absl::string_view received, size_t limit = kMaxRequestBytes);

// Validates one request line: a JSON object with a string "command". The error message is what
// the client gets as {"error": ...}: "malformed request: <why>".
absl::StatusOr<nlohmann::json> ParseRequest(absl::string_view line);

// {"error": message}
nlohmann::json ErrorReply(absl::string_view message);
std::string TooLargeMessage(size_t limit = kMaxRequestBytes);

// The serialized reply line. Never throws: strings that are not UTF-8 (a parser message quoting
// the client's bytes, say) are replaced rather than failing the reply.
std::string SerializeReply(const nlohmann::json& reply);
// The same serialization without the newline, appended to `out`: a reply built piece by piece.
void AppendSerialized(const nlohmann::json& value, std::string& out);

// What SO_PEERCRED and SO_PEERGROUPS report about a connected client.
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

// Who may use the control socket besides root.
struct ControlAccess {
  uid_t daemon_euid = 0;
  std::optional<gid_t> group;  // [Control] Group=
  std::string group_name;      // for messages; the number when the group has no name
};

// OK when `peer` is root, runs as the daemon's own uid, or has the configured group as its
// primary or a supplementary group. Otherwise PermissionDenied whose message says why, e.g.
// "uid 65534 is not root and not in group adm".
absl::Status AuthorizePeer(const PeerCredentials& peer, const ControlAccess& access);

// Lets through at most `burst` events per `interval`, so that a flood of refused or surplus
// connections cannot flood the journal. Counts what it held back for the next line let through.
class LogRateLimiter {
 public:
  LogRateLimiter(absl::Duration interval, int burst) : interval_(interval), burst_(burst) {}
  // True when the caller may log now; `*suppressed` (when given) is then set to the number of
  // events held back since the last line that was let through.
  bool Allow(absl::Time now, uint64_t* suppressed = nullptr);

 private:
  absl::Duration interval_;
  int burst_;
  absl::Time window_start_ = absl::InfinitePast();
  int in_window_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_CONTROL_PROTOCOL_H_
