// Concrete repairs for a finding: drop-in files, commands, and the gatekeeper alternative.
#ifndef GATEKEEPER_ANALYZE_FIXES_H_
#define GATEKEEPER_ANALYZE_FIXES_H_

#include "analyze/findings.h"
#include "analyze/graph_builder.h"
#include "analyze/unit_loader.h"

namespace gatekeeper::analyze {

// Fills `finding->fixes`, most targeted first.
void SuggestFixes(UnitLoader& loader, const Model& model, bool suggest_gate, Finding* finding);

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_FIXES_H_
