// Queries answered by the running daemon from what it enforces.
// `gatekeeper explain (GATE | --host) ADDRESS`: the verdict in each direction and the entry (file
// and line) that decided it, answered by the running daemon from the policy it enforces.
#ifndef GATEKEEPER_CLI_EXPLAIN_COMMAND_H_
#define GATEKEEPER_CLI_EXPLAIN_COMMAND_H_

#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace gatekeeper::cli {

int ExplainCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                   const std::vector<std::string>& args);

std::string RenderExplain(const nlohmann::json& reply);

// `gatekeeper metrics`: the Prometheus text the daemon renders.
int MetricsCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                   const std::vector<std::string>& args);

}  // namespace gatekeeper::cli

#endif  // GATEKEEPER_CLI_EXPLAIN_COMMAND_H_
