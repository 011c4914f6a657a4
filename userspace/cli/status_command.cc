#include "cli/status_command.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "daemon/control_client.h"

namespace gatekeeper::cli {

std::string RenderStatus(const nlohmann::json& status) {
  std::string out;
  for (const nlohmann::json& g : status.value("gates", nlohmann::json::array())) {
    absl::StrAppend(&out, g.value("name", "?"), ": ", g.value("state", "?"));
    const std::string reason = g.value("reason", "");
    if (!reason.empty()) absl::StrAppend(&out, " (", reason, ")");
    absl::StrAppend(&out, "\n");
    const std::string device = g.value("device", "");
    if (!device.empty()) {
      absl::StrAppend(&out, "  device:   ", device, " (ifindex ", g.value("ifindex", 0), ")\n");
    }
    std::vector<std::string> listen = g.value("listen", std::vector<std::string>{});
    absl::StrAppend(&out, "  listen:   ", absl::StrJoin(listen, ", "), "\n");
    const nlohmann::json& svc = g["service"];
    if (svc.value("state", "none") != "none") {
      absl::StrAppend(&out, "  service:  ", svc.value("state", "?"));
      if (svc.value("pid", 0) != 0) absl::StrAppend(&out, ", pid ", svc.value("pid", 0));
      absl::StrAppend(&out, ", ", svc.value("restarts", 0), " restarts");
      if (svc.value("connections", 0) != 0) {
        absl::StrAppend(&out, ", ", svc.value("connections", 0), " connections");
      }
      absl::StrAppend(&out, "\n");
    }
    absl::StrAppend(&out, absl::StrFormat("  %-9s %-8s %12s %14s\n", "", "", "packets", "bytes"));
    for (const char* dir : {"ingress", "egress"}) {
      for (const char* verdict : {"allowed", "denied"}) {
        const nlohmann::json& c = g["counters"][dir][verdict];
        absl::StrAppend(
            &out, absl::StrFormat("  %-9s %-8s %12d %14d\n", dir, verdict,
                                  c.value("packets", uint64_t{0}), c.value("bytes", uint64_t{0})));
      }
    }
    for (const nlohmann::json& f : g.value("foreign_programs", nlohmann::json::array())) {
      absl::StrAppend(&out, "  also filtered by: ", f.get<std::string>(), "\n");
    }
    for (const nlohmann::json& d : g.value("last_denials", nlohmann::json::array())) {
      absl::StrAppend(&out, "  denied:   ", d.get<std::string>(), "\n");
    }
  }
  return out;
}

int StatusCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                  const std::vector<std::string>& gates) {
  std::string runtime_dir = "/run/gatekeeper";
  bool json = false;
  for (const auto& [k, v] : flags) {
    if (k == "runtime-dir") runtime_dir = v;
    if (k == "json") json = true;
  }
  if (gates.size() > 1) {
    std::fprintf(stderr, "gatekeeper status: at most one GATE\n");
    return 2;
  }
  nlohmann::json request = {{"command", "status"}};
  if (!gates.empty()) request["gate"] = gates[0];
  auto reply = daemon::ControlRequest(runtime_dir + "/control.sock", request, 5000);
  if (!reply.ok()) {
    std::fprintf(stderr, "gatekeeper status: %s\n", std::string(reply.status().message()).c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", reply->dump(2).c_str());
  } else {
    std::fputs(RenderStatus(*reply).c_str(), stdout);
  }
  return 0;
}

}  // namespace gatekeeper::cli
