#include "cli/analyze_command.h"

#include <cstdio>

#include "analyze/analyze.h"

namespace gatekeeper::cli {

int AnalyzeCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                   const std::vector<std::string>& args) {
  analyze::Options options;
  options.units = args;
  bool json = false;
  for (const auto& [k, v] : flags) {
    if (k == "root") options.root = v.empty() ? "/" : v;
    if (k == "json") json = true;
    if (k == "suggest-gate") options.suggest_gate = true;
    if (k == "device-created-by") {
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
        std::fprintf(stderr, "gatekeeper analyze: --device-created-by wants IFACE=UNIT, not %s\n",
                     v.c_str());
        return 2;
      }
      options.device_created_by.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    }
  }
  const absl::StatusOr<analyze::Report> report = analyze::Analyze(options);
  if (!report.ok()) {
    std::fprintf(stderr, "gatekeeper analyze: %s\n",
                 std::string(report.status().message()).c_str());
    return 2;
  }
  const std::string out =
      json ? analyze::RenderJson(*report).dump(2) + "\n" : analyze::RenderText(*report);
  std::fputs(out.c_str(), stdout);
  return report->findings.empty() ? 0 : 1;
}

}  // namespace gatekeeper::cli
