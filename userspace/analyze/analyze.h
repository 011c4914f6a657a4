// `gatekeeper analyze`: boot ordering cycles and device-wait stalls in systemd units, found
// without a running systemd, each explained edge by edge and with fixes.
#ifndef GATEKEEPER_ANALYZE_ANALYZE_H_
#define GATEKEEPER_ANALYZE_ANALYZE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "analyze/cycle_search.h"
#include "analyze/findings.h"
#include "analyze/unit_file.h"
#include "nlohmann/json.hpp"

namespace gatekeeper::analyze {

struct Options {
  std::string root = "/";
  std::vector<std::string> units;                                      // empty: default.target
  std::vector<std::pair<std::string, std::string>> device_created_by;  // IFACE, UNIT
  bool suggest_gate = false;
  CycleLimits cycle_limits;
};

struct Report {
  std::string root;
  std::vector<std::string> start;  // the units the transaction starts from (canonical)
  size_t units_loaded = 0;
  size_t transaction_size = 0;
  std::vector<Finding> findings;
  size_t cycle_limit = 0;              // CycleLimits::max_cycles of the search
  std::vector<CutShortSet> cut_short;  // sets whose cycles were not all listed
  std::vector<Warning> warnings;
};

// Errors: the root is not a directory, a start unit does not exist, a bad --device-created-by.
absl::StatusOr<Report> Analyze(const Options& options);

std::string RenderText(const Report& report);
// Fields: root, start[], units_loaded, transaction_size, findings[] {kind, summary, unit,
// device, creator, chain[] {from, relation, to, file, line, setting, rule, provenance},
// fixes[] {title, path, content, commands[], note}}, cycle_limit, cut_short_sets (how many),
// cut_short[] {units[], cycles_listed, more_cycles_exist}, warnings[] {file, line, message}.
// A fix an earlier finding already gave has empty content and commands, and a note naming it.
nlohmann::json RenderJson(const Report& report);

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_ANALYZE_H_
