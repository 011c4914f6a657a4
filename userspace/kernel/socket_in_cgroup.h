// Creates a socket inside a cgroup (and optionally a network namespace) through a short-lived
// helper process: a socket belongs to the cgroup of the process that made it, for its whole life,
// and so do the connections it accepts. The daemon itself stays in its supervisor cgroup.
#ifndef GATEKEEPER_KERNEL_SOCKET_IN_CGROUP_H_
#define GATEKEEPER_KERNEL_SOCKET_IN_CGROUP_H_

#include <sys/socket.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/socket_address.h"
#include "common/unique_fd.h"

namespace gatekeeper::kernel {

struct SocketRequest {
  int family = AF_INET6;
  int type = SOCK_STREAM;
  std::optional<common::SocketAddress> bind;
  // listen(2)s when > 0 (stream sockets).
  int backlog = 0;
  std::string bind_to_device;  // SO_BINDTODEVICE before bind, when not empty
  bool reuse_addr = true;
  bool reuse_port = false;  // SO_REUSEPORT
  bool free_bind = false;   // IP_FREEBIND: bind an address not (yet) present
  int v6only = -1;          // IPV6_V6ONLY: -1 leaves the kernel default
};

// `netns_fd` of -1 keeps the caller's network namespace. The helper is made with clone3 and
// CLONE_INTO_CGROUP, so it starts inside the cgroup and runs only async-signal-safe system calls.
absl::StatusOr<common::UniqueFd> CreateSocketInCgroup(int cgroup_fd, int netns_fd,
                                                      const SocketRequest& request);

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_SOCKET_IN_CGROUP_H_
