#include "analyze/graph_builder.h"

#include <deque>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "analyze/implicit_deps.h"
#include "analyze/unit_name.h"

namespace gatekeeper::analyze {
namespace {

const std::map<std::string, DepKind>& ExplicitKeys() {
  static const auto* kKeys = new std::map<std::string, DepKind>{
      {"Requires", DepKind::kRequires},   {"Requisite", DepKind::kRequisite},
      {"Wants", DepKind::kWants},         {"BindsTo", DepKind::kBindsTo},
      {"PartOf", DepKind::kPartOf},       {"Upholds", DepKind::kUpholds},
      {"Conflicts", DepKind::kConflicts}, {"After", DepKind::kAfter},
      {"Before", DepKind::kAfter}};
  return *kKeys;
}

void AddExplicit(UnitLoader& loader, const Unit& u, const Assignment& a, Graph* graph) {
  auto it = ExplicitKeys().find(a.key);
  if (it == ExplicitKeys().end()) return;
  // Dependencies cannot be reset in systemd (systemd.unit(5)): an empty value adds nothing.
  std::vector<std::string> unknown;
  const std::string value = ExpandSpecifiers(a.value, u.name, &unknown);
  if (!unknown.empty()) {
    loader.warnings().push_back(
        {a.file, a.line,
         absl::StrCat("unsupported specifier ", absl::StrJoin(unknown, " "), " in ", a.key, "=")});
  }
  Provenance p{a.file, a.line, absl::StrCat(a.key, "=", a.value)};
  if (a.line == 0) {
    p.setting = absl::StrCat("enabled: ", u.name, " ", a.key, "=", a.value);
  }
  for (const std::string& word : SplitWords(value)) {
    if (!IsValidUnitName(word) || IsTemplate(word)) {
      loader.warnings().push_back({a.file, a.line,
                                   absl::StrCat("\"", word, "\" in ", a.key,
                                                "= is not a unit name, "
                                                "ignored")});
      continue;
    }
    const std::string other = loader.Load(word).name;
    if (a.key == "Before") {
      graph->Add({other, u.name, DepKind::kAfter, p});
    } else {
      graph->Add({u.name, other, it->second, p});
    }
  }
}

}  // namespace

Model BuildModel(UnitLoader& loader, const std::vector<std::string>& roots) {
  Model m;
  std::deque<std::string> queue;
  std::set<std::string> seen;
  for (const std::string& r : roots) queue.push_back(loader.Load(r).name);
  while (!queue.empty()) {
    const std::string name = queue.front();
    queue.pop_front();
    if (!seen.insert(name).second) continue;
    const Unit& u = loader.Load(name);
    if (u.state != LoadState::kLoaded) continue;
    m.transaction.push_back(u.name);
    m.in_transaction.insert(u.name);
    for (const Assignment& a : u.assignments) {
      if (a.section == "Unit") AddExplicit(loader, u, a, &m.graph);
    }
    for (const Assignment& a : u.directory_deps) AddExplicit(loader, u, a, &m.graph);
    AddImplicitDependencies(loader, u, &m.graph);
    for (DepKind k : {DepKind::kRequires, DepKind::kRequisite, DepKind::kWants, DepKind::kBindsTo,
                      DepKind::kUpholds}) {
      for (const Edge* e : m.graph.Out(u.name, k)) {
        if (!seen.count(e->to)) queue.push_back(e->to);
      }
    }
  }
  for (const std::string& name : m.transaction) {
    if (UnitSuffix(name) == "target") AddTargetDefaultOrdering(loader, loader.Load(name), &m.graph);
  }
  return m;
}

}  // namespace gatekeeper::analyze
