// systemd's expansion of environment variables in a service's command line (systemd.service(5),
// "Command lines"; replace_env_argv() in systemd 252). It works on the words ExecStart= was
// already split into, so quotes in the gate file do not protect a "$NAME" word from being split.
#ifndef GATEKEEPER_ACTIVATION_COMMAND_LINE_H_
#define GATEKEEPER_ACTIVATION_COMMAND_LINE_H_

#include <string>
#include <vector>

namespace gatekeeper::activation {

// Expands every word of `argv` against `environment` ("VAR=VALUE" entries; the last assignment of
// a name wins), exactly as systemd 252 does when it starts a service:
//   - A word that is "$NAME" as a whole becomes the value split at whitespace into zero or more
//     words; single and double quotes group (and are removed) and a backslash takes the next
//     character literally. An unset or empty variable removes the word, and so does a whole
//     word "$" followed by what is no variable name ("$(id)", "$-x", "$"): it names none.
//   - Anywhere else "${NAME}" becomes the value, inside its word (unset: empty) and "$$"
//     becomes "$". Every other "$" stays: "a$NAME", "x$", "${A:-b}" and an unclosed "${A" are
//     kept literally.
// Nothing else is interpreted: there is no shell.
std::vector<std::string> ExpandCommandLine(const std::vector<std::string>& argv,
                                           const std::vector<std::string>& environment);

}  // namespace gatekeeper::activation

#endif  // GATEKEEPER_ACTIVATION_COMMAND_LINE_H_
