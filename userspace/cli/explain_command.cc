#include "cli/explain_command.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "daemon/control_client.h"

namespace gatekeeper::cli {
namespace {

std::string Line(const char* direction, const char* preposition, const std::string& address,
                 const nlohmann::json& v) {
  const bool allowed = v.value("verdict", "") == "allow";
  const std::string rule = v.value("rule", "");
  std::string out = absl::StrCat("  ", direction, " (", preposition, " ", address, "): ");
  if (rule.empty()) {
    absl::StrAppend(&out, "no entry matched: allowed");
  } else {
    absl::StrAppend(&out, allowed ? "allowed by " : "denied by ", rule);
  }
  // The gate's ingress program also drops whatever arrives on another device.
  if (allowed && v.contains("device")) {
    absl::StrAppend(&out, ", when it arrives on ", v["device"].get<std::string>());
  }
  return out + "\n";
}

}  // namespace

std::string RenderExplain(const nlohmann::json& reply) {
  const std::string address = reply.value("address", "?");
  std::string out = absl::StrCat(reply.value("scope", "?"), ", ", address, ":\n");
  absl::StrAppend(&out, Line("ingress", "from", address, reply["ingress"]));
  absl::StrAppend(&out, Line("egress ", "to", address, reply["egress"]));
  if (reply.contains("note"))
    absl::StrAppend(&out, "  note: ", reply["note"].get<std::string>(), "\n");
  return out;
}

int ExplainCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                   const std::vector<std::string>& args) {
  std::string runtime_dir = "/run/gatekeeper";
  bool host = false;
  for (const auto& [k, v] : flags) {
    if (k == "runtime-dir") runtime_dir = v;
    if (k == "host") host = true;
  }
  if (args.size() != (host ? 1u : 2u)) {
    std::fprintf(stderr, "usage: gatekeeper explain [--runtime-dir DIR] (GATE | --host) ADDRESS\n");
    return 2;
  }
  nlohmann::json request = {{"command", "explain"}, {"address", args.back()}};
  if (host) {
    request["host"] = true;
  } else {
    request["gate"] = args[0];
  }
  auto reply = daemon::ControlRequest(runtime_dir + "/control.sock", request, 5000);
  if (!reply.ok()) {
    std::fprintf(stderr, "gatekeeper explain: %s\n", std::string(reply.status().message()).c_str());
    return 1;
  }
  std::fputs(RenderExplain(*reply).c_str(), stdout);
  return 0;
}

int MetricsCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                   const std::vector<std::string>& args) {
  std::string runtime_dir = "/run/gatekeeper";
  for (const auto& [k, v] : flags) {
    if (k == "runtime-dir") runtime_dir = v;
  }
  if (!args.empty()) {
    std::fprintf(stderr, "usage: gatekeeper metrics [--runtime-dir DIR]\n");
    return 2;
  }
  auto reply =
      daemon::ControlRequest(runtime_dir + "/control.sock", {{"command", "metrics"}}, 5000);
  if (!reply.ok()) {
    std::fprintf(stderr, "gatekeeper metrics: %s\n", std::string(reply.status().message()).c_str());
    return 1;
  }
  std::fputs(reply->value("text", "").c_str(), stdout);
  return 0;
}

}  // namespace gatekeeper::cli
