// Ends TCP connections of one cgroup at once, through NETLINK_SOCK_DIAG's SOCK_DESTROY (the
// kernel's tcp_abort): when a reload newly denies a peer, its established connections would
// otherwise stall until TCP gives up, because every later packet of theirs is dropped. The
// aborted socket sends a reset, which the gate's egress program lets out (bare RSTs pass there),
// so the peer learns at once (ECONNRESET); the local side sees ECONNABORTED.
#ifndef GATEKEEPER_KERNEL_SOCK_DESTROY_H_
#define GATEKEEPER_KERNEL_SOCK_DESTROY_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "common/socket_address.h"

namespace gatekeeper::kernel {

// Chooses the connections to end. Addresses are given as the cgroup's BPF programs judge the
// packets: an AF_INET6 socket's IPv4-mapped address (a dual-stack listener's IPv4 peer,
// ::ffff:a.b.c.d) comes as a plain AF_INET sockaddr_in, as policy::PeerAsSeenByKernel would
// make it; everything else comes as the socket reports it (AF_INET or AF_INET6, with the bound
// device as sin6_scope_id for link-local addresses).
using TcpConnectionFilter =
    std::function<bool(const common::SocketAddress& local, const common::SocketAddress& peer)>;

// Dumps the TCP sockets of cgroup `cgroup_id` (kernel::Cgroup::id(); filtered in the kernel with
// INET_DIAG_BC_CGROUP_COND, Linux 5.9+) in the states of a live connection: ESTABLISHED,
// SYN_RECV, FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK and CLOSING (not LISTEN, SYN_SENT or
// TIME_WAIT), both families, calls `should_destroy` for each and destroys the chosen ones.
// Returns how many were destroyed; one that vanished in between (ENOENT) is not counted and is
// not an error. Any other failure stops at once, with the connection named.
//
// A socket belongs to the cgroup of the process that created it, and an accepted connection
// inherits its listener's: connections to a gate's listener are in the gate's socket cgroup, while
// those a service opens itself are in its service cgroup. Callers pass each id in turn.
//
// sock_diag sees the calling thread's network namespace only. Needs CAP_NET_ADMIN and a kernel
// with CONFIG_INET_DIAG_DESTROY (else Unimplemented, "Operation not supported"). `should_destroy`
// runs while the dumps are read; the chosen sockets are destroyed after both dumps.
absl::StatusOr<size_t> DestroyTcpSockets(uint64_t cgroup_id,
                                         const TcpConnectionFilter& should_destroy);

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_SOCK_DESTROY_H_
