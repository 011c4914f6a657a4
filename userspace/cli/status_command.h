// `gatekeeper status`: asks the daemon over its control socket; a table, or --json.
#ifndef GATEKEEPER_CLI_STATUS_COMMAND_H_
#define GATEKEEPER_CLI_STATUS_COMMAND_H_

#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace gatekeeper::cli {

int StatusCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                  const std::vector<std::string>& gates);

// The plain form: one block per gate.
std::string RenderStatus(const nlohmann::json& status);

}  // namespace gatekeeper::cli

#endif  // GATEKEEPER_CLI_STATUS_COMMAND_H_
