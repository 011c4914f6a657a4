// What goes wrong at boot: ordering cycles among the transaction's units, and device-wait
// stalls (a unit waits for a device whose creator is ordered after that unit).
#ifndef GATEKEEPER_ANALYZE_FINDINGS_H_
#define GATEKEEPER_ANALYZE_FINDINGS_H_

#include <string>
#include <vector>

#include "analyze/cycle_search.h"
#include "analyze/dependency_graph.h"
#include "analyze/device_origin.h"
#include "analyze/graph_builder.h"

namespace gatekeeper::analyze {

// One link of a chain: "from --relation--> to (why)".
struct Step {
  std::string from;
  std::string to;
  std::string relation;  // "After", or "CreatedBy" for a device and the unit that makes it
  Provenance why;
};

struct Fix {
  std::string title;
  std::string path;     // file to create ("" when the fix is only commands or advice)
  std::string content;  // its content
  std::vector<std::string> commands;
  std::string note;
};

enum class FindingKind { kCycle, kStall };
const char* FindingKindName(FindingKind k);

struct Finding {
  FindingKind kind;
  std::string summary;
  std::vector<Step> chain;  // closes on itself: the last step ends where the first begins
  std::string unit;         // the waiting unit (stall) or the cycle's first unit
  std::string device;       // stall only
  std::string creator;      // stall only
  std::vector<Fix> fixes;
};

struct CycleFindings {
  std::vector<Finding> findings;  // in SearchCycles' order
  std::vector<CutShortSet> cut_short;
};

// Every elementary ordering cycle, as far as `limits` allow (see cycle_search.h).
CycleFindings FindCycles(const Model& model, const CycleLimits& limits = {});
std::vector<Finding> FindStalls(const Model& model, const DeviceOrigins& origins);

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_FINDINGS_H_
