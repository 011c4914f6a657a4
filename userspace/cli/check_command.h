// `gatekeeper check`: every error of the configuration in one run, "FILE:LINE: message", then,
// for a valid configuration, access-list mistakes as "FILE:LINE: warning: message" (or "note:").
#ifndef GATEKEEPER_CLI_CHECK_COMMAND_H_
#define GATEKEEPER_CLI_CHECK_COMMAND_H_

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "policy/lint.h"

namespace gatekeeper::cli {

// Exit status: 0 valid (warnings and notes included), 1 errors found, 2 usage.
int CheckCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                 const std::vector<std::string>& files);

// The lint findings of a loaded configuration in output order: the host lists', then each gate's
// (socket and service lists together), each in file and line order. `host_known` is false when
// gate files are checked without their gatekeeper.conf: the host lists are then unknown, not
// empty, and checks that depend on them are skipped.
std::vector<policy::LintFinding> LintConfig(const config::Config& config, bool host_known);

}  // namespace gatekeeper::cli

#endif  // GATEKEEPER_CLI_CHECK_COMMAND_H_
