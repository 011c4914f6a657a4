// gatekeeper.conf: the host scope's lists and who may use the control socket.
#include "config/config.h"
#include "config/credentials.h"
#include "config/gate_builder.h"
#include "config/key_dispatch.h"
#include "config/unit_lexer.h"

namespace gatekeeper::config {
namespace {

// What "%n" stands for in gatekeeper.conf: the file's name without ".conf".
constexpr std::string_view kHostName = "gatekeeper";

}  // namespace

LoadResult ParseHostConfig(const SourceText& source, UserResolver& resolver) {
  Diagnostics diags;
  LoadResult result;
  HostConfig& host = result.config.host;
  std::vector<KeyHandler> keys;
  for (std::string_view key : {"IPAddressAllow", "IPAddressDeny"}) {
    keys.push_back({"Host", key, false, [&host](const Assignment& a, const std::string& v) {
                      return AssignAddressList(host.lists, a, v);
                    }});
  }
  keys.push_back({"Control", "Group", true,
                  [&host, &resolver](const Assignment&, const std::string& v) -> absl::Status {
                    if (v.empty()) {
                      host.control_group.reset();
                      return absl::OkStatus();
                    }
                    absl::StatusOr<GroupRef> group = ResolveGroup(v, resolver);
                    if (!group.ok()) return group.status();
                    host.control_group = group->gid;
                    return absl::OkStatus();
                  }});

  const UnitText unit = LexUnit(source.file, source.text, diags);
  ReserveAddressLists(std::span(&unit, 1), "Host", host.lists);
  ApplyUnit(unit, keys, kHostName, diags);
  diags.Finish(result.errors, result.warnings);
  return result;
}

}  // namespace gatekeeper::config
