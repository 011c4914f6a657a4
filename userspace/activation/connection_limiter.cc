#include "activation/connection_limiter.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace gatekeeper::activation {
namespace {

std::string AddressText(int family, const void* address) {
  char text[INET6_ADDRSTRLEN] = {};
  return inet_ntop(family, address, text, sizeof(text)) != nullptr ? text : "?";
}

}  // namespace

std::string SourceKey(const common::SocketAddress& peer) {
  if (peer.family() == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, &peer.storage, sizeof(in));
    return AddressText(AF_INET, &in.sin_addr);
  }
  if (peer.family() == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, &peer.storage, sizeof(in6));
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      return AddressText(AF_INET, &in6.sin6_addr.s6_addr[12]);
    }
    return AddressText(AF_INET6, &in6.sin6_addr);
  }
  return absl::StrCat("family:", peer.family());
}

absl::StatusOr<std::string> SourceKeyOf(int connection_fd) {
  common::SocketAddress peer;
  peer.length = sizeof(peer.storage);
  if (getpeername(connection_fd, peer.get(), &peer.length) != 0) {
    return common::ErrnoStatus(errno, "getpeername of an accepted connection");
  }
  if (peer.family() == AF_UNIX) {
    ucred cred{};
    socklen_t length = sizeof(cred);
    if (getsockopt(connection_fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
      return common::ErrnoStatus(errno, "SO_PEERCRED of an accepted connection");
    }
    return absl::StrCat("uid:", cred.uid);
  }
  return SourceKey(peer);
}

ConnectionLimiter::Verdict ConnectionLimiter::TryAcquire(absl::string_view source) {
  if (total_ >= limits_.max_connections) return Verdict::kTooManyConnections;
  auto it = per_source_.find(source);
  const int current = it == per_source_.end() ? 0 : it->second;
  if (limits_.max_per_source > 0 && current >= limits_.max_per_source) {
    return Verdict::kTooManyFromSource;
  }
  ++total_;
  ++per_source_[source];
  return Verdict::kAccept;
}

bool ConnectionLimiter::Release(absl::string_view source) {
  auto it = per_source_.find(source);
  if (it == per_source_.end()) return false;
  --total_;
  if (--it->second == 0) per_source_.erase(it);
  return true;
}

int ConnectionLimiter::from(absl::string_view source) const {
  auto it = per_source_.find(source);
  return it == per_source_.end() ? 0 : it->second;
}

absl::string_view ConnectionLimiter::VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAccept:
      return "accepted";
    case Verdict::kTooManyConnections:
      return "refused: MaxConnections= reached";
    case Verdict::kTooManyFromSource:
      return "refused: MaxConnectionsPerSource= reached";
  }
  return "?";
}

}  // namespace gatekeeper::activation
