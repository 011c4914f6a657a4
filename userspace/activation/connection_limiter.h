// MaxConnections= and MaxConnectionsPerSource= for Accept=yes gates: which accepted connections
// may get a process. Pure bookkeeping; the daemon closes refused connections at once (as systemd
// does) and releases a connection's slot when its process has been reaped.
#ifndef GATEKEEPER_ACTIVATION_CONNECTION_LIMITER_H_
#define GATEKEEPER_ACTIVATION_CONNECTION_LIMITER_H_

#include <sys/socket.h>

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/socket_address.h"

namespace gatekeeper::activation {

struct ConnectionLimits {
  int max_connections = 64;  // MaxConnections=, systemd's default
  int max_per_source = 0;    // MaxConnectionsPerSource=; 0 = unlimited
};

// The key connections are counted under for MaxConnectionsPerSource=: the peer's IP address
// without the port, an IPv4-mapped IPv6 peer as plain IPv4 (a dual-stack listener's IPv4 peer
// must count as the same source as on an IPv4 listener).
std::string SourceKey(const common::SocketAddress& peer);
// For an accepted connection: the peer address as above; for a unix socket the peer's uid
// ("uid:1000", from SO_PEERCRED), as systemd counts unix peers by user.
absl::StatusOr<std::string> SourceKeyOf(int connection_fd);

class ConnectionLimiter {
 public:
  enum class Verdict { kAccept, kTooManyConnections, kTooManyFromSource };

  explicit ConnectionLimiter(ConnectionLimits limits) : limits_(limits) {}

  // kAccept counts the connection under `source` until Release(source); a refusal counts nothing.
  Verdict TryAcquire(absl::string_view source);
  // One connection from `source` has ended. False (and nothing changes) when none was counted:
  // a bug in the caller, worth a log line.
  bool Release(absl::string_view source);

  int total() const { return total_; }
  int from(absl::string_view source) const;
  const ConnectionLimits& limits() const { return limits_; }

  static absl::string_view VerdictName(Verdict verdict);

 private:
  ConnectionLimits limits_;
  int total_ = 0;
  absl::flat_hash_map<std::string, int> per_source_;
};

}  // namespace gatekeeper::activation

#endif  // GATEKEEPER_ACTIVATION_CONNECTION_LIMITER_H_
