// User and group names resolved to ids. Injected so that the parser stays pure and tests do not
// depend on the machine's user database.
#ifndef GATEKEEPER_CONFIG_USER_RESOLVER_H_
#define GATEKEEPER_CONFIG_USER_RESOLVER_H_

#include <sys/types.h>

#include <optional>
#include <string_view>

namespace gatekeeper::config {

class UserResolver {
 public:
  virtual ~UserResolver() = default;
  // nullopt when there is no such user/group. Only called with names, never with numeric text:
  // numeric ids are taken as they are, as systemd does.
  virtual std::optional<uid_t> Uid(std::string_view name) = 0;
  virtual std::optional<gid_t> Gid(std::string_view name) = 0;
};

// The system's databases through getpwnam_r/getgrnam_r (NSS included).
class SystemUserResolver : public UserResolver {
 public:
  std::optional<uid_t> Uid(std::string_view name) override;
  std::optional<gid_t> Gid(std::string_view name) override;
};

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_USER_RESOLVER_H_
