// Access-list mistakes that parse fine but do not do what they look like: `gatekeeper check`
// reports them as warnings and notes, never as errors.
#ifndef GATEKEEPER_POLICY_LINT_H_
#define GATEKEEPER_POLICY_LINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "policy/access_list.h"

namespace gatekeeper::policy {

enum class LintSeverity : uint8_t {
  kWarning,  // the lists probably do not do what was meant
  kNote,     // harmless, but the entry could go
};

struct LintFinding {
  LintSeverity severity = LintSeverity::kWarning;
  Origin origin;  // the entry the finding is about; other entries are named in the message
  std::string message;

  // "web.gate:7" (or the origin's source), the place to print before the message.
  std::string Where() const;
  // "warning" or "note", as printed after the place.
  const char* SeverityName() const;
  bool operator==(const LintFinding&) const = default;
};

// The host scope's own policy (the host lists alone, as the daemon attaches them at the cgroup
// root for everything outside the gates) denying 127.0.0.1 or ::1: local services then cannot
// reach each other. One warning per deciding deny entry.
std::vector<LintFinding> LintHostLists(const AccessLists& host);

// Checks the entries of one scope as written, and reports only about those entries:
//  - an IPv4-mapped IPv6 prefix (inside ::ffff:0:0/96) never matches (warning);
//  - an entry covered by another entry of the same list, in either order, has no effect (note);
//  - a deny entry covered by an allow entry never takes effect, since allow wins (warning);
//  - allow entries with no deny entry at all (own or the host's) have no effect, since
//    everything passes anyway (warning; gate scopes only, see below).
// A token standing for two prefixes ("localhost") is reported only when all of them qualify.
//
// `host`, for a gate's socket or service lists, is the host scope the daemon merges in. It is
// consulted only where the merge changes what the gate's own entries do: a host allow silences a
// gate deny inside it, and a host deny gives a gate allow something to open. The other
// direction is the designed use (a gate allow opening a host deny) and is never reported, and
// gate entries repeating host entries are not notes: the gate stays correct if the host lists
// change. `host` is null for the host's own entries (linted once, not per gate) and when the host
// lists are unknown (a gate file checked alone); the checks that depend on the merge are then
// skipped: allow entries go unchecked for a missing deny, as one may come from elsewhere.
std::vector<LintFinding> LintEntries(const AccessLists& lists, const AccessLists* host = nullptr);

}  // namespace gatekeeper::policy

#endif  // GATEKEEPER_POLICY_LINT_H_
