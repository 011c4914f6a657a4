// `gatekeeper reload`: asks the running daemon to load its configuration again. A configuration
// with errors changes nothing; the errors come back as FILE:LINE: message.
#ifndef GATEKEEPER_CLI_RELOAD_COMMAND_H_
#define GATEKEEPER_CLI_RELOAD_COMMAND_H_

#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace gatekeeper::cli {

int ReloadCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                  const std::vector<std::string>& args);

// The reply as the operator reads it; `failed` tells whether anything went wrong.
std::string RenderReload(const nlohmann::json& reply, bool* failed);

}  // namespace gatekeeper::cli

#endif  // GATEKEEPER_CLI_RELOAD_COMMAND_H_
