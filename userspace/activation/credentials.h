// User= / Group= resolved to numbers in the daemon, before any fork: the name service may take
// locks, allocate or talk to nscd, none of which is allowed between clone and exec.
#ifndef GATEKEEPER_ACTIVATION_CREDENTIALS_H_
#define GATEKEEPER_ACTIVATION_CREDENTIALS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatekeeper::activation {

struct Credentials {
  std::string user;  // the name as found in the user database (for messages and $USER)
  uid_t uid = 0;
  gid_t gid = 0;
  // Applied with setgroups(); includes `gid`. With User= these are the user's groups from the
  // group database (getgrouplist); with only Group= they are just that group, so the daemon's own
  // supplementary groups never leak into a service.
  std::vector<gid_t> supplementary_groups;
  std::string home;
  std::string shell;
};

// `user` and `group` are names or numeric ids; either may be empty:
//  - user given, group empty: the user's primary group (like systemd's User= alone);
//  - user empty, group given: the daemon's own user with that group;
//  - both empty: InvalidArgument (the caller should not ask for credentials then).
// An unknown user or group is NotFound naming it; a failing name service is an error with the
// errno text.
absl::StatusOr<Credentials> ResolveCredentials(absl::string_view user, absl::string_view group);

// USER, LOGNAME, HOME and SHELL as systemd sets them for a service with User=.
std::vector<std::string> CredentialsEnvironment(const Credentials& credentials);

}  // namespace gatekeeper::activation

#endif  // GATEKEEPER_ACTIVATION_CREDENTIALS_H_
