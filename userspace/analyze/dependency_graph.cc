#include "analyze/dependency_graph.h"

#include "absl/strings/str_cat.h"

namespace gatekeeper::analyze {

const char* DepKindName(DepKind k) {
  switch (k) {
    case DepKind::kRequires:
      return "Requires";
    case DepKind::kRequisite:
      return "Requisite";
    case DepKind::kWants:
      return "Wants";
    case DepKind::kBindsTo:
      return "BindsTo";
    case DepKind::kPartOf:
      return "PartOf";
    case DepKind::kUpholds:
      return "Upholds";
    case DepKind::kConflicts:
      return "Conflicts";
    case DepKind::kAfter:
      return "After";
    case DepKind::kTriggers:
      return "Triggers";
  }
  return "?";
}

bool PullsIn(DepKind k) {
  return k == DepKind::kRequires || k == DepKind::kRequisite || k == DepKind::kWants ||
         k == DepKind::kBindsTo || k == DepKind::kUpholds;
}

std::string Provenance::Describe() const {
  if (file.empty()) return absl::StrCat("implicit: ", rule);
  if (line == 0) return absl::StrCat(file, " (", setting, ")");
  return absl::StrCat(file, ":", line, " ", setting);
}

void Graph::Add(Edge e) {
  auto key = std::make_tuple(e.from, e.to, e.kind);
  if (index_.count(key)) return;
  index_[key] = edges_.size();
  out_[{e.from, e.kind}].push_back(edges_.size());
  edges_.push_back(std::move(e));
}

bool Graph::Has(const std::string& from, const std::string& to, DepKind kind) const {
  return index_.count(std::make_tuple(from, to, kind)) > 0;
}

const Edge* Graph::Find(const std::string& from, const std::string& to, DepKind kind) const {
  auto it = index_.find(std::make_tuple(from, to, kind));
  return it == index_.end() ? nullptr : &edges_[it->second];
}

std::vector<const Edge*> Graph::Out(const std::string& from, DepKind kind) const {
  std::vector<const Edge*> out;
  auto it = out_.find({from, kind});
  if (it == out_.end()) return out;
  for (size_t i : it->second) out.push_back(&edges_[i]);
  return out;
}

}  // namespace gatekeeper::analyze
