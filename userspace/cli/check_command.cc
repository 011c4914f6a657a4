#include "cli/check_command.h"

#include <cstdio>

#include "config/config.h"
#include "config/user_resolver.h"

namespace gatekeeper::cli {

int CheckCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                 const std::vector<std::string>& files) {
  std::string dir = "/etc/gatekeeper";
  bool dir_given = false;
  for (const auto& [k, v] : flags) {
    if (k == "config-dir") {
      dir = v;
      dir_given = true;
    }
  }
  if (dir_given && !files.empty()) {
    std::fprintf(stderr, "gatekeeper check: give --config-dir or files, not both\n");
    return 2;
  }
  config::SystemUserResolver resolver;
  const config::LoadResult r =
      files.empty() ? config::LoadConfigDir(dir, resolver) : config::LoadFiles(files, resolver);
  for (const config::Diagnostic& w : r.warnings) {
    std::printf("%s (warning)\n", w.ToString().c_str());
  }
  for (const config::Diagnostic& e : r.errors) std::printf("%s\n", e.ToString().c_str());
  if (!r.ok()) {
    std::fprintf(stderr, "%zu error%s\n", r.errors.size(), r.errors.size() == 1 ? "" : "s");
    return 1;
  }
  std::printf("%zu gate%s OK\n", r.config.gates.size(), r.config.gates.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace gatekeeper::cli
