// sockaddr construction and inspection shared by the engine's users (daemon, demo, tests).
#ifndef GATEKEEPER_COMMON_SOCKET_ADDRESS_H_
#define GATEKEEPER_COMMON_SOCKET_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatekeeper::common {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  uint16_t port() const;
  // "192.0.2.1:8443", "[2001:db8::1]:8443", "/run/x.sock"
  std::string ToString() const;

  // A numeric IPv4 or IPv6 address and a port; InvalidArgument naming the text otherwise.
  static absl::StatusOr<SocketAddress> Parse(absl::string_view ip, uint16_t port);
  // A unix socket path; InvalidArgument when it does not fit sun_path.
  static absl::StatusOr<SocketAddress> Unix(absl::string_view path);
  // getsockname() of a socket.
  static absl::StatusOr<SocketAddress> LocalOf(int fd);
};

}  // namespace gatekeeper::common

#endif  // GATEKEEPER_COMMON_SOCKET_ADDRESS_H_
