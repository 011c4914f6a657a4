// A gatekeeper .gate file written from a .socket unit (and its service), so the socket can move
// to gatekeeper, which waits for the device itself instead of through boot ordering.
#ifndef GATEKEEPER_ANALYZE_GATE_SUGGESTION_H_
#define GATEKEEPER_ANALYZE_GATE_SUGGESTION_H_

#include <string>

#include "analyze/unit_loader.h"

namespace gatekeeper::analyze {

// The gate name gatekeeper would use for the socket ("foo.socket" -> "foo").
std::string GateNameFor(const std::string& socket_unit);

// The .gate text. Keys gatekeeper does not take are listed as comments with FILE:LINE, so
// nothing is dropped silently.
std::string GateFromSocket(UnitLoader& loader, const Unit& socket);

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_GATE_SUGGESTION_H_
