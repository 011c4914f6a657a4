// `gatekeeper analyze`: boot ordering cycles and device-wait stalls in systemd units.
#ifndef GATEKEEPER_CLI_ANALYZE_COMMAND_H_
#define GATEKEEPER_CLI_ANALYZE_COMMAND_H_

#include <string>
#include <utility>
#include <vector>

namespace gatekeeper::cli {

// Flags: root, json, device-created-by (IFACE=UNIT, repeatable), suggest-gate; args: units.
// Exit status: 0 clean, 1 findings, 2 usage or I/O errors.
int AnalyzeCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                   const std::vector<std::string>& args);

}  // namespace gatekeeper::cli

#endif  // GATEKEEPER_CLI_ANALYZE_COMMAND_H_
