// Which names a gate may have (internal to gk_config). The name becomes a cgroup directory
// (<name>.socket, <name>.service) and the default LISTEN_FDNAMES entry, so it is kept to
// characters that are safe in both.
#ifndef GATEKEEPER_CONFIG_GATE_NAME_H_
#define GATEKEEPER_CONFIG_GATE_NAME_H_

#include <string_view>

#include "absl/status/status.h"

namespace gatekeeper::config {

inline constexpr size_t kMaxGateName = 128;

// 1-128 of [A-Za-z0-9_.@-], not starting with '.' or '-'.
absl::Status CheckGateName(std::string_view name);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_GATE_NAME_H_
