// The environment of a socket-activated service (sd_listen_fds(3)): what the daemon's own
// environment must not pass on, what the LISTEN_FDS protocol adds, and REMOTE_ADDR/REMOTE_PORT
// for Accept=yes connections. Pure functions; Spawn() uses them.
#ifndef GATEKEEPER_ACTIVATION_ENVIRONMENT_H_
#define GATEKEEPER_ACTIVATION_ENVIRONMENT_H_

#include <sys/socket.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatekeeper::activation {

// The file descriptor name a connection gets with Accept=yes.
inline constexpr absl::string_view kConnectionFdName = "connection";

// True for variables that belong to the daemon's own supervisor and would confuse a service that
// inherited them: NOTIFY_SOCKET, WATCHDOG_PID, WATCHDOG_USEC and every LISTEN_* variable.
bool IsSupervisorVariable(absl::string_view name);

// A name usable in LISTEN_FDNAMES, by systemd's rule for FileDescriptorName=: at most 255
// printable ASCII characters (spaces allowed) and no ':', the separator. Unlike systemd an empty
// name is refused: the caller substitutes the gate name, as systemd substitutes the unit name.
absl::Status ValidateFdName(absl::string_view name);

// `environment` ("VAR=VALUE" entries, composed by the caller) with the supervisor variables
// removed, a later assignment of a name replacing an earlier one, and LISTEN_FDS and
// LISTEN_FDNAMES (the names joined with ':') appended when `fd_names` is not empty. LISTEN_PID is
// not included: only the child knows its pid, so Spawn() appends it there. InvalidArgument for an
// entry without '=' or with an empty name, and for an invalid fd name.
absl::StatusOr<std::vector<std::string>> ComposeEnvironment(
    const std::vector<std::string>& environment, const std::vector<std::string>& fd_names);

// {"REMOTE_ADDR=...", "REMOTE_PORT=..."} for a connection's peer, formatted as systemd does: the
// plain IPv4 text for an IPv4 peer, also when a dual-stack socket reports it as ::ffff:a.b.c.d;
// IPv6 without brackets, with "%<interface>" for a scoped (link-local) peer. Empty for other
// families (a unix socket peer has no address), as systemd sets nothing then either.
std::vector<std::string> RemoteEnvironment(const sockaddr* peer, socklen_t length);

// The same for a connected socket, through getpeername(); empty when the peer is already gone
// (ENOTCONN), as in systemd.
std::vector<std::string> RemoteEnvironmentOf(int connection_fd);

}  // namespace gatekeeper::activation

#endif  // GATEKEEPER_ACTIVATION_ENVIRONMENT_H_
