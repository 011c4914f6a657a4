// Dependencies between units, each remembering why it exists (FILE:LINE or the implicit rule).
// Ordering is stored one way only: "A --After--> B" means A starts after B, whether A said
// After=B or B said Before=A.
#ifndef GATEKEEPER_ANALYZE_DEPENDENCY_GRAPH_H_
#define GATEKEEPER_ANALYZE_DEPENDENCY_GRAPH_H_

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace gatekeeper::analyze {

enum class DepKind {
  kRequires,
  kRequisite,
  kWants,
  kBindsTo,
  kPartOf,
  kUpholds,
  kConflicts,
  kAfter,
  kTriggers
};
const char* DepKindName(DepKind k);
// Kinds that put the other unit into the start transaction.
bool PullsIn(DepKind k);

struct Provenance {
  std::string file;     // in-root path; "" for implicit rules
  int line = 0;         // 0 for directory entries (.wants/ symlinks) and implicit rules
  std::string setting;  // "After=a.target b.target" as written, or "" for implicit rules
  std::string rule;     // the implicit rule, in the man page's words
  // Units whose DefaultDependencies=yes made this edge: setting it to no removes the edge.
  std::vector<std::string> default_deps_of;

  // "FILE:LINE SETTING", "FILE (SETTING)" or "implicit: RULE".
  std::string Describe() const;
};

struct Edge {
  std::string from;
  std::string to;
  DepKind kind;
  Provenance why;
};

class Graph {
 public:
  // A second edge with the same ends and kind is dropped: the first reason is the one shown.
  void Add(Edge e);
  bool Has(const std::string& from, const std::string& to, DepKind kind) const;
  // Edges leaving `from` of kind `kind`, in the order added.
  std::vector<const Edge*> Out(const std::string& from, DepKind kind) const;
  const Edge* Find(const std::string& from, const std::string& to, DepKind kind) const;
  const std::vector<Edge>& edges() const { return edges_; }

 private:
  std::vector<Edge> edges_;
  std::map<std::tuple<std::string, std::string, DepKind>, size_t> index_;
  std::map<std::pair<std::string, DepKind>, std::vector<size_t>> out_;
};

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_DEPENDENCY_GRAPH_H_
