#include "analyze/findings.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "analyze/unit_name.h"

namespace gatekeeper::analyze {
namespace {

// Ordering successors ("waits for") inside the transaction, restricted to `allowed` if given.
std::vector<const Edge*> Waits(const Model& m, const std::string& u,
                               const std::set<std::string>* allowed) {
  std::vector<const Edge*> out;
  for (const Edge* e : m.graph.Out(u, DepKind::kAfter)) {
    if (e->to == u && allowed == nullptr) continue;
    if (!m.Contains(e->to)) continue;
    if (allowed != nullptr && !allowed->count(e->to)) continue;
    out.push_back(e);
  }
  return out;
}

// Shortest path of After edges from `from` to `to` (breadth first); empty when none.
std::vector<const Edge*> ShortestPath(const Model& m, const std::string& from,
                                      const std::string& to, const std::set<std::string>* allowed) {
  std::map<std::string, const Edge*> via;
  std::deque<std::string> queue = {from};
  std::set<std::string> seen = {from};
  while (!queue.empty()) {
    const std::string u = queue.front();
    queue.pop_front();
    for (const Edge* e : Waits(m, u, allowed)) {
      if (e->to == to) {
        std::vector<const Edge*> path = {e};
        for (std::string at = u; at != from; at = via[at]->from) path.push_back(via[at]);
        std::reverse(path.begin(), path.end());
        return path;
      }
      if (seen.insert(e->to).second) {
        via[e->to] = e;
        queue.push_back(e->to);
      }
    }
  }
  return {};
}

Step ToStep(const Edge* e) { return {e->from, e->to, "After", e->why}; }

// Tarjan's algorithm, iterative: real unit sets nest deep enough to make recursion a risk.
std::vector<std::vector<std::string>> StronglyConnected(const Model& m) {
  std::map<std::string, int> index, low;
  std::set<std::string> on_stack;
  std::vector<std::string> stack;
  std::vector<std::vector<std::string>> out;
  int next = 0;
  for (const std::string& start : m.transaction) {
    if (index.count(start)) continue;
    std::vector<std::pair<std::string, size_t>> work = {{start, 0}};
    while (!work.empty()) {
      auto& [u, i] = work.back();
      if (i == 0 && !index.count(u)) {
        index[u] = low[u] = next++;
        stack.push_back(u);
        on_stack.insert(u);
      }
      const std::vector<const Edge*> succ = Waits(m, u, nullptr);
      if (i < succ.size()) {
        const std::string v = succ[i++]->to;
        if (!index.count(v)) {
          work.push_back({v, 0});
        } else if (on_stack.count(v)) {
          low[u] = std::min(low[u], index[v]);
        }
        continue;
      }
      if (low[u] == index[u]) {
        std::vector<std::string> scc;
        std::string w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack.erase(w);
          scc.push_back(w);
        } while (w != u);
        out.push_back(std::move(scc));
      }
      const std::string done = u;
      work.pop_back();
      if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[done]);
    }
  }
  return out;
}

}  // namespace

const char* FindingKindName(FindingKind k) { return k == FindingKind::kCycle ? "cycle" : "stall"; }

std::vector<Finding> FindCycles(const Model& m) {
  std::vector<Finding> out;
  for (std::vector<std::string>& scc : StronglyConnected(m)) {
    const std::set<std::string> members(scc.begin(), scc.end());
    if (scc.size() == 1 && !m.graph.Has(scc[0], scc[0], DepKind::kAfter)) continue;
    // Start the chain at a unit someone would edit (not a target), shortest cycle first.
    std::sort(scc.begin(), scc.end(), [](const std::string& a, const std::string& b) {
      const bool ta = UnitSuffix(a) == "target", tb = UnitSuffix(b) == "target";
      return ta != tb ? tb : a < b;
    });
    std::vector<const Edge*> best;
    for (const std::string& s : scc) {
      std::vector<const Edge*> c = ShortestPath(m, s, s, &members);
      if (scc.size() == 1) c = {m.graph.Find(s, s, DepKind::kAfter)};
      if (!c.empty() && (best.empty() || c.size() < best.size())) best = c;
    }
    if (best.empty()) continue;
    Finding f{FindingKind::kCycle};
    f.unit = best.front()->from;
    for (const Edge* e : best) f.chain.push_back(ToStep(e));
    f.summary = absl::StrCat("ordering cycle of ", best.size(), " units through ", f.unit,
                             ": systemd deletes a job to break it, so some unit is not started");
    if (members.size() > best.size()) {
      absl::StrAppend(&f.summary, " (", members.size(),
                      " units are entangled; shown is the "
                      "shortest cycle)");
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Finding> FindStalls(const Model& m, const DeviceOrigins& origins) {
  std::vector<Finding> out;
  for (const std::string& u : m.transaction) {
    for (const Edge* wait : m.graph.Out(u, DepKind::kAfter)) {
      const std::string iface = DeviceOrigins::InterfaceOfDeviceUnit(wait->to);
      if (iface.empty() || !m.Contains(wait->to)) continue;
      for (const DeviceCreator& c : origins.CreatorsOf(iface)) {
        if (!m.Contains(c.unit) || c.unit == u) continue;
        std::vector<const Edge*> back = ShortestPath(m, c.unit, u, nullptr);
        if (back.empty()) continue;
        Finding f{FindingKind::kStall};
        f.unit = u;
        f.device = wait->to;
        f.creator = c.unit;
        f.chain.push_back(ToStep(wait));
        f.chain.push_back({wait->to, c.unit, "CreatedBy", c.why});
        for (const Edge* e : back) f.chain.push_back(ToStep(e));
        f.summary = absl::StrCat(u, " waits for ", wait->to, ", which only ", c.unit,
                                 " creates, but ", c.unit, " is ordered after ", u,
                                 ": the boot stalls until the device job times out (90 s by "
                                 "default), then ",
                                 u, " fails");
        out.push_back(std::move(f));
      }
    }
  }
  return out;
}

}  // namespace gatekeeper::analyze
