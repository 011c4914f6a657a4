// The state a gate's keys build up while its files are applied (internal to gk_config).
#ifndef GATEKEEPER_CONFIG_GATE_BUILDER_H_
#define GATEKEEPER_CONFIG_GATE_BUILDER_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "config/config.h"
#include "config/diagnostic.h"
#include "config/key_dispatch.h"
#include "config/unit_lexer.h"
#include "config/user_resolver.h"

namespace gatekeeper::config {

struct GateBuilder {
  explicit GateBuilder(UserResolver& r) : resolver(r) {}

  UserResolver& resolver;
  GateConfig gate;
  ServiceConfig service;  // becomes gate.service if ExecStart= is set in the end

  // Where settings that only make sense with others were last set, for the whole-gate checks.
  std::optional<Location> accept_where;
  std::optional<Location> socket_user_where;
  std::optional<Location> socket_group_where;
  std::optional<Location> socket_mode_where;
  std::optional<Location> start_where;
  std::optional<Location> standard_input_where;  // StandardInput=socket
  // A Listen*= or ExecStart= value was refused (and not reset since): the checks for a missing
  // listener or command stay quiet, as the error at the value already explains it.
  bool listen_failed = false;
  // EndpointKey → index in gate.socket.listen: duplicates found without comparing every pair.
  absl::flat_hash_map<std::string, size_t> listen_index;
  bool exec_start_failed = false;
  // The last non-empty [Service] assignment other than ExecStart=, and its key.
  std::optional<Location> service_key_where;
  std::string service_key;
};

std::vector<KeyHandler> SocketKeys(GateBuilder& builder);
std::vector<KeyHandler> ServiceKeys(GateBuilder& builder);

// Applies one IPAddressAllow=/IPAddressDeny= assignment to `lists`.
absl::Status AssignAddressList(policy::AccessLists& lists, const Assignment& a,
                               const std::string& value);

// Makes room in `lists` for every token the IPAddressAllow=/IPAddressDeny= assignments of
// `section` in `units` hold, before they are applied: a list of a million entries comes in
// thousands of assignments, and growing into it would move it many times over.
void ReserveAddressLists(std::span<const UnitText> units, std::string_view section,
                         policy::AccessLists& lists);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_GATE_BUILDER_H_
