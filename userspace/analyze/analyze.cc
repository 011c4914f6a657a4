#include "analyze/analyze.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "analyze/device_origin.h"
#include "analyze/fixes.h"
#include "analyze/graph_builder.h"
#include "analyze/root_fs.h"
#include "analyze/unit_loader.h"
#include "analyze/unit_name.h"
#include "common/status_macros.h"

namespace gatekeeper::analyze {

absl::StatusOr<Report> Analyze(const Options& options) {
  RootFs fs(options.root == "/" ? "" : options.root);
  absl::StatusOr<std::vector<std::string>> top = fs.ListDir("/");
  if (!top.ok()) {
    return absl::Status(top.status().code(),
                        absl::StrCat("--root ", options.root, ": ", top.status().message()));
  }
  Report report;
  report.root = options.root;
  UnitLoader loader(fs);
  GK_ASSIGN_OR_RETURN(DeviceOrigins origins,
                      DeviceOrigins::Load(fs, options.device_created_by, &loader.warnings()));
  std::vector<std::string> start = options.units;
  if (start.empty()) start.emplace_back("default.target");
  for (const std::string& name : start) {
    if (!IsValidUnitName(name) || IsTemplate(name)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a unit name"));
    }
    const Unit& u = loader.Load(name);
    if (u.state != LoadState::kLoaded) {
      return absl::NotFoundError(
          absl::StrCat(name, ": ", LoadStateName(u.state), " under ", options.root));
    }
    report.start.push_back(u.name);
  }
  const Model model = BuildModel(loader, report.start);
  CycleFindings cycles = FindCycles(model, options.cycle_limits);
  report.findings = std::move(cycles.findings);
  report.cycle_limit = options.cycle_limits.max_cycles;
  report.cut_short = std::move(cycles.cut_short);
  for (Finding& f : FindStalls(model, origins)) report.findings.push_back(std::move(f));
  SuggestFixes(loader, model, options.suggest_gate, &report.findings);
  report.units_loaded = loader.loaded_count();
  report.transaction_size = model.transaction.size();
  report.warnings = std::move(loader.warnings());
  return report;
}

}  // namespace gatekeeper::analyze
