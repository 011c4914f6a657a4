// The search goes by length (iterative deepening) so that the cycles listed before the limit
// are the shortest ones; within one length it goes root by root in rank order and successors in
// rank order, so each set yields its cycles already sorted. A cycle is found only from its lowest
// ranked unit (its root), over units ranked above the root, so it is found once.
//
// The distance back to the root, over those units, prunes the search: a path is only extended
// to a unit from which the root can still be reached within the length. At the shortest length
// with a cycle through a root this leaves no dead ends (a shortest way back that crossed the
// path would close a shorter cycle), so each set's first cycle costs polynomial time; later ones
// are paid from the step budget.
#include "analyze/cycle_search.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "analyze/unit_name.h"

namespace gatekeeper::analyze {
namespace {

constexpr int kUnreachable = std::numeric_limits<int>::max();

// Units someone would edit come before targets: a chain starts where a fix usually goes.
bool RankLess(const std::string& a, const std::string& b) {
  const bool ta = UnitSuffix(a) == "target";
  const bool tb = UnitSuffix(b) == "target";
  return ta != tb ? tb : a < b;
}

// After edges among the transaction's units, self-loops included.
std::map<std::string, std::vector<const Edge*>> Waits(const Model& m) {
  std::map<std::string, std::vector<const Edge*>> out;
  for (const std::string& u : m.transaction) {
    std::vector<const Edge*>& list = out[u];
    for (const Edge* e : m.graph.Out(u, DepKind::kAfter)) {
      if (m.Contains(e->to)) list.push_back(e);
    }
  }
  return out;
}

// Tarjan's algorithm, iterative: real unit sets nest deep enough to make recursion a risk.
// Only the sets that can hold a cycle: two units or more, or one with an edge to itself.
std::vector<std::vector<std::string>> CyclicSets(
    const Model& m, const std::map<std::string, std::vector<const Edge*>>& waits) {
  std::map<std::string, int> index;
  std::map<std::string, int> low;
  std::map<std::string, bool> on_stack;
  std::vector<std::string> stack;
  std::vector<std::vector<std::string>> out;
  int next = 0;
  for (const std::string& start : m.transaction) {
    if (index.contains(start)) continue;
    std::vector<std::pair<std::string, size_t>> work = {{start, 0}};
    while (!work.empty()) {
      auto& [u, i] = work.back();
      if (i == 0 && !index.contains(u)) {
        index[u] = low[u] = next++;
        stack.push_back(u);
        on_stack[u] = true;
      }
      const std::vector<const Edge*>& succ = waits.at(u);
      if (i < succ.size()) {
        const std::string& v = succ[i++]->to;
        if (!index.contains(v)) {
          work.emplace_back(v, 0);
        } else if (on_stack[v]) {
          low[u] = std::min(low[u], index[v]);
        }
        continue;
      }
      if (low[u] == index[u]) {
        std::vector<std::string> set;
        std::string w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = false;
          set.push_back(w);
        } while (w != u);
        if (set.size() > 1 || m.graph.Has(u, u, DepKind::kAfter)) out.push_back(std::move(set));
      }
      const std::string done = u;
      work.pop_back();
      if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[done]);
    }
  }
  return out;
}

class Budget {
 public:
  explicit Budget(size_t steps) : left_(steps) {}
  // False once the budget is spent.
  bool Spend(size_t steps) {
    if (steps > left_) {
      left_ = 0;
      return false;
    }
    left_ -= steps;
    return true;
  }

 private:
  size_t left_;
};

enum class Stop { kFinished, kLimit, kBudget };

// The cycles of one strongly connected set, its units numbered by rank.
class SetSearch {
 public:
  SetSearch(std::vector<std::string> units,
            const std::map<std::string, std::vector<const Edge*>>& waits)
      : units_(std::move(units)),
        out_(units_.size()),
        in_(units_.size()),
        done_(units_.size(), false),
        dist_(units_.size()) {
    std::sort(units_.begin(), units_.end(), RankLess);
    std::map<std::string, int> number;
    for (size_t i = 0; i < units_.size(); ++i) number[units_[i]] = static_cast<int>(i);
    for (size_t u = 0; u < units_.size(); ++u) {
      for (const Edge* e : waits.at(units_[u])) {
        auto it = number.find(e->to);
        if (it == number.end()) continue;
        out_[u].push_back({it->second, e});
        in_[it->second].push_back({static_cast<int>(u), e});
      }
      std::sort(out_[u].begin(), out_[u].end(),
                [](const Arc& a, const Arc& b) { return a.to < b.to; });
    }
  }

  const std::vector<std::string>& units() const { return units_; }
  bool complete() const {
    return std::all_of(done_.begin(), done_.end(), [](bool d) { return d; });
  }

  // Appends to `out` this set's cycles of exactly `length` edges, in order, at most `limit`.
  Stop Collect(size_t length, size_t limit, Budget& budget,
               std::vector<std::vector<const Edge*>>& out) {
    const int n = static_cast<int>(units_.size());
    if (!Charge(budget, units_.size())) return Stop::kBudget;
    std::vector<bool> on_path(units_.size(), false);
    size_t taken = 0;
    for (int root = 0; root < n; ++root) {
      if (done_[root]) continue;
      // Whether a path was cut for length alone: only then can longer cycles through `root` exist.
      bool cut_by_length = false;
      std::vector<int> path = {root};
      std::vector<const Edge*> edges;
      std::vector<size_t> next = {0};
      on_path[root] = true;
      while (!path.empty()) {
        const int u = path.back();
        if (next.back() == out_[u].size()) {
          on_path[u] = false;
          path.pop_back();
          next.pop_back();
          if (!edges.empty()) edges.pop_back();
          continue;
        }
        const Arc& a = out_[u][next.back()++];
        if (!Charge(budget, 1)) return Stop::kBudget;
        const size_t len = edges.size() + 1;
        if (a.to == root) {
          if (len != length) continue;
          out.push_back(edges);
          out.back().push_back(a.edge);
          ++found_;
          if (++taken >= limit) return Stop::kLimit;
          continue;
        }
        if (a.to < root || on_path[a.to]) continue;
        if (len >= length) {
          cut_by_length = true;
          continue;
        }
        const int back = DistanceToRoot(root, budget)[a.to];
        if (back == kUnreachable) continue;
        if (len + back > length) {
          cut_by_length = true;
          continue;
        }
        path.push_back(a.to);
        edges.push_back(a.edge);
        next.push_back(0);
        on_path[a.to] = true;
      }
      // No cycle through `root` is longer than the units it may use.
      if (!cut_by_length || length >= static_cast<size_t>(n - root)) {
        done_[root] = true;
        dist_[root] = {};
      }
    }
    return Stop::kFinished;
  }

 private:
  struct Arc {
    int to;
    const Edge* edge;
  };

  // Until the set's first cycle the search is free: see the top of this file.
  bool Charge(Budget& budget, size_t steps) const { return found_ == 0 || budget.Spend(steps); }

  // Fewest edges from each unit back to `root` over units ranked above it (breadth first over
  // the reversed edges), computed once per root.
  const std::vector<int>& DistanceToRoot(int root, Budget& budget) {
    std::vector<int>& dist = dist_[root];
    if (!dist.empty()) return dist;
    dist.assign(units_.size(), kUnreachable);
    dist[root] = 0;
    std::vector<int> queue = {root};
    size_t steps = units_.size();
    for (size_t head = 0; head < queue.size(); ++head) {
      const int v = queue[head];
      for (const Arc& a : in_[v]) {
        ++steps;
        if (a.to > root && dist[a.to] == kUnreachable) {
          dist[a.to] = dist[v] + 1;
          queue.push_back(a.to);
        }
      }
    }
    // Charged after the fact: the caller sees the spent budget at its next step.
    Charge(budget, steps);
    return dist;
  }

  std::vector<std::string> units_;
  std::vector<std::vector<Arc>> out_;
  std::vector<std::vector<Arc>> in_;  // Arc::to is the edge's start here
  std::vector<bool> done_;            // every cycle through this root was collected
  std::vector<std::vector<int>> dist_;
  size_t found_ = 0;
};

struct Found {
  size_t set;
  std::vector<const Edge*> edges;
};

bool FoundLess(const Found& a, const Found& b) {
  if (a.edges.size() != b.edges.size()) return a.edges.size() < b.edges.size();
  return std::lexicographical_compare(
      a.edges.begin(), a.edges.end(), b.edges.begin(), b.edges.end(),
      [](const Edge* x, const Edge* y) { return RankLess(x->from, y->from); });
}

}  // namespace

CycleSearch SearchCycles(const Model& m, const CycleLimits& limits) {
  const std::map<std::string, std::vector<const Edge*>> waits = Waits(m);
  std::vector<SetSearch> sets;
  for (std::vector<std::string>& units : CyclicSets(m, waits)) sets.emplace_back(units, waits);
  std::sort(sets.begin(), sets.end(), [](const SetSearch& a, const SetSearch& b) {
    return RankLess(a.units().front(), b.units().front());
  });
  Budget budget(limits.max_steps);
  std::vector<size_t> listed(sets.size(), 0);
  std::vector<bool> more(sets.size(), false);    // a cycle beyond the listed ones was found
  std::vector<bool> halted(sets.size(), false);  // the budget ran out in it
  CycleSearch result;
  size_t remaining = limits.max_cycles;
  size_t length = 0;
  while (remaining > 0) {
    ++length;
    std::vector<Found> batch;
    bool open = false;
    for (size_t i = 0; i < sets.size(); ++i) {
      // No elementary cycle is longer than its set: the length alone ends the loop.
      if (sets[i].complete() || halted[i] || length > sets[i].units().size()) continue;
      open = true;
      // One over what is left: a set that fills it has a cycle that goes unlisted below.
      const size_t limit = std::max(remaining, remaining + 1);
      std::vector<std::vector<const Edge*>> cycles;
      halted[i] = sets[i].Collect(length, limit, budget, cycles) == Stop::kBudget;
      for (auto& c : cycles) batch.push_back({i, std::move(c)});
    }
    if (!open) break;
    // Sets are disjoint and each gave its first cycles of this length in order, so the first
    // `remaining` of the merged batch are the first of all.
    std::sort(batch.begin(), batch.end(), FoundLess);
    for (size_t k = 0; k < batch.size(); ++k) {
      if (k < remaining) {
        ++listed[batch[k].set];
        result.cycles.push_back(std::move(batch[k].edges));
      } else {
        more[batch[k].set] = true;
      }
    }
    remaining -= std::min(remaining, batch.size());
  }
  for (size_t i = 0; i < sets.size(); ++i) {
    // Listing stopped at max_cycles with this set's search unfinished: look for one more cycle,
    // so the report says more exist only when they do.
    std::vector<std::vector<const Edge*>> probe;
    for (size_t len = length + 1;
         len <= sets[i].units().size() && !more[i] && !halted[i] && !sets[i].complete(); ++len) {
      halted[i] = sets[i].Collect(len, 1, budget, probe) == Stop::kBudget;
      more[i] = !probe.empty();
    }
    if (more[i] || halted[i]) result.cut_short.push_back({sets[i].units(), listed[i], more[i]});
  }
  return result;
}

}  // namespace gatekeeper::analyze
