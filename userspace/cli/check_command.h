// `gatekeeper check`: every error of the configuration in one run, "FILE:LINE: message".
#ifndef GATEKEEPER_CLI_CHECK_COMMAND_H_
#define GATEKEEPER_CLI_CHECK_COMMAND_H_

#include <string>
#include <utility>
#include <vector>

namespace gatekeeper::cli {

// Exit status: 0 valid, 1 errors found, 2 usage.
int CheckCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                 const std::vector<std::string>& files);

}  // namespace gatekeeper::cli

#endif  // GATEKEEPER_CLI_CHECK_COMMAND_H_
