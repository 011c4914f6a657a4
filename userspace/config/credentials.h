// User=/Group=-style values turned into ids (internal to gk_config).
#ifndef GATEKEEPER_CONFIG_CREDENTIALS_H_
#define GATEKEEPER_CONFIG_CREDENTIALS_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "config/user_resolver.h"

namespace gatekeeper::config {

// A numeric id is taken as it is (systemd does not require it to exist); a name must exist.
absl::StatusOr<UserRef> ResolveUser(std::string_view text, UserResolver& resolver);
absl::StatusOr<GroupRef> ResolveGroup(std::string_view text, UserResolver& resolver);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_CREDENTIALS_H_
