#include "cli/reload_command.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "daemon/control_client.h"

namespace gatekeeper::cli {

std::string RenderReload(const nlohmann::json& reply, bool* failed) {
  std::string out;
  *failed = reply.contains("error");
  if (*failed) absl::StrAppend(&out, "gatekeeper reload: ", reply.value("error", ""), "\n");
  if (reply.contains("errors") && reply["errors"].is_array()) {
    for (const nlohmann::json& e : reply["errors"]) {
      if (e.is_string()) absl::StrAppend(&out, e.get<std::string>(), "\n");
    }
  }
  if (reply.contains("changes") && reply["changes"].is_array()) {
    if (reply["changes"].empty() && !*failed) out += "nothing changed\n";
    for (const nlohmann::json& c : reply["changes"]) {
      if (c.is_string()) absl::StrAppend(&out, c.get<std::string>(), "\n");
    }
  }
  return out;
}

int ReloadCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                  const std::vector<std::string>& args) {
  std::string runtime_dir = "/run/gatekeeper";
  for (const auto& [k, v] : flags) {
    if (k == "runtime-dir") runtime_dir = v;
  }
  if (!args.empty()) {
    std::fprintf(stderr, "usage: gatekeeper reload [--runtime-dir DIR]\n");
    return 2;
  }
  // Building the tries of a million-prefix policy takes a second or two; leave room.
  auto reply =
      daemon::ControlRequest(runtime_dir + "/control.sock", {{"command", "reload"}}, 60000);
  if (!reply.ok()) {
    std::fprintf(stderr, "gatekeeper reload: %s\n", std::string(reply.status().message()).c_str());
    return 1;
  }
  bool failed = false;
  const std::string text = RenderReload(*reply, &failed);
  std::fputs(text.c_str(), failed ? stderr : stdout);
  return failed ? 1 : 0;
}

}  // namespace gatekeeper::cli
