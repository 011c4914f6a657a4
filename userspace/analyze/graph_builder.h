// Builds the start transaction: the units `roots` pull in (recursively) and every edge among
// them, explicit and implicit.
#ifndef GATEKEEPER_ANALYZE_GRAPH_BUILDER_H_
#define GATEKEEPER_ANALYZE_GRAPH_BUILDER_H_

#include <set>
#include <string>
#include <vector>

#include "analyze/dependency_graph.h"
#include "analyze/unit_loader.h"

namespace gatekeeper::analyze {

struct Model {
  Graph graph;
  std::vector<std::string> transaction;  // canonical names, in the order they were pulled in
  std::set<std::string> in_transaction;
  bool Contains(const std::string& unit) const { return in_transaction.count(unit) > 0; }
};

// `roots` may be aliases; units that are not found or masked stay out of the transaction, as
// systemd drops their jobs.
Model BuildModel(UnitLoader& loader, const std::vector<std::string>& roots);

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_GRAPH_BUILDER_H_
