// The client side of the control socket, for the CLI and the tests.
#ifndef GATEKEEPER_DAEMON_CONTROL_CLIENT_H_
#define GATEKEEPER_DAEMON_CONTROL_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace gatekeeper::daemon {

// Sends `request` and waits up to `timeout_ms` for the reply. An
// {"error": ...} reply becomes an error status with that text (PermissionDenied when the daemon
// refused this user).
absl::StatusOr<nlohmann::json> ControlRequest(const std::string& path,
                                              const nlohmann::json& request, int timeout_ms);

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_CONTROL_CLIENT_H_
