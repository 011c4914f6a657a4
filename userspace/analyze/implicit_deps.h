// The dependencies systemd 252 adds on its own: per unit type (socket -> service, BindToDevice,
// slices, timers/paths -> their unit) and the default dependencies (DefaultDependencies=yes).
#ifndef GATEKEEPER_ANALYZE_IMPLICIT_DEPS_H_
#define GATEKEEPER_ANALYZE_IMPLICIT_DEPS_H_

#include "analyze/dependency_graph.h"
#include "analyze/unit_loader.h"

namespace gatekeeper::analyze {

void AddImplicitDependencies(UnitLoader& loader, const Unit& u, Graph* graph);

// Targets order themselves after what they pull in. This needs the other units' own edges (to
// skip what would make a loop, as systemd does), so it runs once the transaction is complete.
void AddTargetDefaultOrdering(UnitLoader& loader, const Unit& target, Graph* graph);

// The service a socket (or timer/path) activates, "" when none (Accept=yes sockets).
std::string ActivatedUnit(const Unit& u);

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_IMPLICIT_DEPS_H_
