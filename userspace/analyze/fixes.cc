#include "analyze/fixes.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "analyze/gate_suggestion.h"
#include "analyze/unit_name.h"

namespace gatekeeper::analyze {
namespace {

bool MadeBy(const Provenance& p, const std::string& unit) {
  return std::find(p.default_deps_of.begin(), p.default_deps_of.end(), unit) !=
         p.default_deps_of.end();
}

std::set<std::string> ChainUnits(const Finding& f) {
  std::set<std::string> units;
  for (const Step& s : f.chain) {
    units.insert(s.from);
    units.insert(s.to);
  }
  return units;
}

// What all findings' chains hold. One unit gets one drop-in, and it must break every chain
// through that unit: two drop-ins at the same path, each breaking only its own chain, would
// undo each other.
struct Chains {
  std::set<std::pair<std::string, std::string>> after;  // the After links, from -> to
  std::set<std::string> units;
};

Chains AllChains(const std::vector<Finding>& findings) {
  Chains c;
  for (const Finding& f : findings) {
    for (const Step& s : f.chain) {
      if (s.relation == "After") c.after.emplace(s.from, s.to);
    }
    c.units.merge(ChainUnits(f));
  }
  return c;
}

// DefaultDependencies=no on `v`, adding back every default ordering that is not part of the
// problem, so the unit keeps its place in boot and shutdown.
Fix NoDefaultDependencies(const Model& m, const Chains& chains, const std::string& v) {
  std::map<std::string, std::set<std::string>> keep;  // key -> units
  std::vector<std::string> dropped;
  for (const Edge& e : m.graph.edges()) {
    if (!MadeBy(e.why, v)) continue;
    const bool own = e.why.default_deps_of.size() == 1;
    if (e.kind == DepKind::kAfter && chains.after.contains({e.from, e.to})) {
      dropped.push_back(e.from == v ? absl::StrCat("After=", e.to)
                                    : absl::StrCat("Before=", e.from));
      continue;
    }
    // Per-template slices and targets' orderings go away by themselves; nothing to add back.
    if (!own || UnitSuffix(e.to) == "slice") continue;
    if (e.from == v) {
      keep[DepKindName(e.kind)].insert(e.to);
    } else if (e.to == v && e.kind == DepKind::kAfter) {
      keep["Before"].insert(e.from);
    }
  }
  Fix fix;
  fix.title = absl::StrCat("give ", v,
                           " DefaultDependencies=no and add back the orderings that "
                           "do not close the loop");
  fix.path = absl::StrCat("/etc/systemd/system/", v, ".d/50-gatekeeper-no-default-deps.conf");
  fix.content = "[Unit]\nDefaultDependencies=no\n";
  for (const char* key : {"Requires", "Wants", "After", "Before", "Conflicts"}) {
    if (keep.contains(key)) {
      absl::StrAppend(&fix.content, key, "=", absl::StrJoin(keep[key], " "), "\n");
    }
  }
  fix.note =
      absl::StrCat("drops ", absl::StrJoin(dropped, ", "),
                   dropped.size() == 1 ? " (the link in the chain)" : " (links in the chains)");
  fix.commands.emplace_back("systemctl daemon-reload");
  // Enabled from a target in the chain: hang it on multi-user.target instead.
  for (const Edge& e : m.graph.edges()) {
    if (e.to != v || e.why.line != 0 || e.why.file.empty() || !chains.units.contains(e.from)) {
      continue;
    }
    if (e.kind != DepKind::kWants && e.kind != DepKind::kRequires) continue;
    fix.commands.push_back(absl::StrCat("systemctl disable ", v));
    fix.commands.push_back(absl::StrCat("systemctl add-wants multi-user.target ", v));
    absl::StrAppend(&fix.note, "; it is enabled from ", e.from, " (", e.why.file,
                    "): hang it on multi-user.target instead, and in its [Install] section say "
                    "WantedBy=multi-user.target (a drop-in cannot change [Install])");
    break;
  }
  return fix;
}

Fix RemoveSetting(const Step& s) {
  Fix fix;
  fix.title = absl::StrCat("drop the ordering ", s.from, " --After--> ", s.to, " set at ",
                           s.why.file, ":", s.why.line, " (", s.why.setting, ")");
  fix.note =
      "dependencies cannot be removed by a drop-in (systemd.unit(5)): edit the unit in "
      "/etc/systemd/system (copy it there first if it lives in /lib/systemd/system)";
  fix.commands.emplace_back("systemctl daemon-reload");
  return fix;
}

Fix GatekeeperOwnsSocket(UnitLoader& loader, const Unit& socket, bool suggest_gate) {
  Fix fix;
  const std::string gate = GateNameFor(socket.name);
  fix.title = absl::StrCat("let gatekeeper own the socket of ", socket.name,
                           ": it waits for the "
                           "device through rtnetlink, not through boot ordering");
  fix.path = absl::StrCat("/etc/gatekeeper/", gate, ".gate");
  if (suggest_gate) {
    fix.content = GateFromSocket(loader, socket);
  } else {
    fix.note = "run `gatekeeper analyze --suggest-gate` to print the .gate file generated from " +
               socket.name;
  }
  fix.commands = {absl::StrCat("gatekeeper check ", fix.path),
                  absl::StrCat("systemctl disable --now ", socket.name),
                  "systemctl enable --now gatekeeper.service", "gatekeeper reload"};
  return fix;
}

// The fixes of one finding, most targeted first.
void SuggestFor(UnitLoader& loader, const Model& m, const Chains& chains, bool suggest_gate,
                Finding* f) {
  // Units whose default dependencies make a link: the waiting unit first.
  std::vector<std::string> candidates = {f->unit};
  for (const Step& s : f->chain) {
    for (const std::string& v : s.why.default_deps_of) candidates.push_back(v);
  }
  std::set<std::string> done;
  for (const std::string& v : candidates) {
    const std::string type = UnitSuffix(v);
    if (type == "target" || type == "device" || !done.insert(v).second) continue;
    bool in_chain = false;
    for (const Step& s : f->chain) in_chain = in_chain || MadeBy(s.why, v);
    if (in_chain) f->fixes.push_back(NoDefaultDependencies(m, chains, v));
  }
  for (const Step& s : f->chain) {
    if (s.why.line > 0 && UnitSuffix(s.why.file) != "target" &&
        s.why.setting.rfind("BindToDevice=", 0) != 0) {
      f->fixes.push_back(RemoveSetting(s));
    }
  }
  for (const std::string& u : ChainUnits(*f)) {
    const Unit& unit = loader.Load(u);
    if (UnitSuffix(u) == "socket" && !unit.Last("Socket", "BindToDevice").empty()) {
      f->fixes.push_back(GatekeeperOwnsSocket(loader, unit, suggest_gate));
    }
  }
}

}  // namespace

void SuggestFixes(UnitLoader& loader, const Model& m, bool suggest_gate,
                  std::vector<Finding>* findings) {
  const Chains chains = AllChains(*findings);
  // A file or an edit already given for an earlier finding is only pointed back to.
  std::map<std::string, std::string> given;  // path, or title when there is no file -> "N.K"
  for (size_t n = 0; n < findings->size(); ++n) {
    Finding& f = (*findings)[n];
    SuggestFor(loader, m, chains, suggest_gate, &f);
    for (size_t k = 0; k < f.fixes.size(); ++k) {
      Fix& x = f.fixes[k];
      const auto [it, first] =
          given.emplace(x.path.empty() ? x.title : x.path, absl::StrCat(n + 1, ".", k + 1));
      if (first) continue;
      x.content.clear();
      x.commands.clear();
      x.note = absl::StrCat("the same as fix ", it->second, ", which breaks this chain too");
    }
  }
}

}  // namespace gatekeeper::analyze
