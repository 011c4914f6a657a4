// Concrete repairs for a finding: drop-in files, commands, and the gatekeeper alternative.
#ifndef GATEKEEPER_ANALYZE_FIXES_H_
#define GATEKEEPER_ANALYZE_FIXES_H_

#include <vector>

#include "analyze/findings.h"
#include "analyze/graph_builder.h"
#include "analyze/unit_loader.h"

namespace gatekeeper::analyze {

// Fills each finding's fixes, most targeted first. A file or edit that several findings need is
// given in full once, at the first of them; its drop-ins break every chain given.
void SuggestFixes(UnitLoader& loader, const Model& model, bool suggest_gate,
                  std::vector<Finding>* findings);

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_FIXES_H_
