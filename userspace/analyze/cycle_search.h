// Every elementary ordering cycle among the start transaction's units, shortest first, within
// fixed bounds. Listing one cycle per strongly connected set made an operator fix it and reboot
// into the next one; listing all of them is not possible either: 30 units ordered after each
// other already close more than 10^30 cycles.
#ifndef GATEKEEPER_ANALYZE_CYCLE_SEARCH_H_
#define GATEKEEPER_ANALYZE_CYCLE_SEARCH_H_

#include <cstddef>
#include <string>
#include <vector>

#include "analyze/dependency_graph.h"
#include "analyze/graph_builder.h"

namespace gatekeeper::analyze {

struct CycleLimits {
  size_t max_cycles = 100;  // listed in total, over all strongly connected sets
  // Search steps (mostly edges looked at), over all sets. A set's search until its first cycle
  // is not counted (it is polynomial), so every set with a cycle lists at least one unless
  // max_cycles is reached first.
  size_t max_steps = 2'000'000;
};

// A strongly connected set of units whose cycles were not all listed.
struct CutShortSet {
  std::vector<std::string> units;  // in the order chains are ranked by (see CycleSearch)
  size_t listed = 0;               // how many of the listed cycles run through it
  // True: a cycle beyond those listed was found. False: max_steps ran out before the search
  // could tell.
  bool more_exist = false;
};

struct CycleSearch {
  // Each cycle's edges (in the model's graph), the last ending where the first begins. A chain
  // starts at its lowest ranked unit: units someone would edit rank before targets, then by name.
  // Cycles are ordered by length, then by their units' ranks in chain order.
  std::vector<std::vector<const Edge*>> cycles;
  std::vector<CutShortSet> cut_short;
};

// Searches the After edges among `model`'s transaction, shortest cycles first: when max_cycles
// stops it, the cycles listed are the first ones in CycleSearch's order.
CycleSearch SearchCycles(const Model& model, const CycleLimits& limits = {});

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_CYCLE_SEARCH_H_
