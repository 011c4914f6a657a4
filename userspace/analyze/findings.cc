#include "analyze/findings.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"

namespace gatekeeper::analyze {
namespace {

// Ordering successors ("waits for") inside the transaction.
std::vector<const Edge*> Waits(const Model& m, const std::string& u) {
  std::vector<const Edge*> out;
  for (const Edge* e : m.graph.Out(u, DepKind::kAfter)) {
    if (e->to != u && m.Contains(e->to)) out.push_back(e);
  }
  return out;
}

// Shortest path of After edges from `from` to `to` (breadth first); empty when none.
std::vector<const Edge*> ShortestPath(const Model& m, const std::string& from,
                                      const std::string& to) {
  std::map<std::string, const Edge*> via;
  std::deque<std::string> queue = {from};
  std::set<std::string> seen = {from};
  while (!queue.empty()) {
    const std::string u = queue.front();
    queue.pop_front();
    for (const Edge* e : Waits(m, u)) {
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

}  // namespace

const char* FindingKindName(FindingKind k) { return k == FindingKind::kCycle ? "cycle" : "stall"; }

CycleFindings FindCycles(const Model& m, const CycleLimits& limits) {
  CycleSearch search = SearchCycles(m, limits);
  CycleFindings out;
  for (const std::vector<const Edge*>& cycle : search.cycles) {
    Finding f{FindingKind::kCycle};
    f.unit = cycle.front()->from;
    for (const Edge* e : cycle) f.chain.push_back(ToStep(e));
    f.summary = absl::StrCat("ordering cycle of ", cycle.size(), " units through ", f.unit,
                             ": systemd deletes a job to break it, so some unit is not started");
    out.findings.push_back(std::move(f));
  }
  out.cut_short = std::move(search.cut_short);
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
        std::vector<const Edge*> back = ShortestPath(m, c.unit, u);
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
