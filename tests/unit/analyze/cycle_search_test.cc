// Cycle enumeration over in-memory ordering graphs: every elementary cycle, in order, and the
// bounds that keep a dense graph from running away.
#include "analyze/cycle_search.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "analyze/findings.h"

namespace gatekeeper::analyze {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A transaction of the units named in `after`, each pair "A --After--> B" as if A's unit file
// said After=B on line N (the pair's position, from 1).
Model Ordered(const std::vector<std::pair<std::string, std::string>>& after) {
  Model m;
  int line = 0;
  for (const auto& [a, b] : after) {
    for (const std::string& u : {a, b}) {
      if (m.in_transaction.insert(u).second) m.transaction.push_back(u);
    }
    m.graph.Add({a, b, DepKind::kAfter,
                 Provenance{absl::StrCat("/etc/systemd/system/", a), ++line, "After=" + b}});
  }
  return m;
}

// `n` services, each ordered after every other one.
Model Complete(int n) {
  std::vector<std::pair<std::string, std::string>> after;
  for (int a = 0; a < n; ++a) {
    for (int b = 0; b < n; ++b) {
      if (a != b) {
        after.emplace_back(absl::StrFormat("u%03d.service", a),
                           absl::StrFormat("u%03d.service", b));
      }
    }
  }
  return Ordered(after);
}

// "a b c" for the cycle a -> b -> c -> a.
std::string Units(const std::vector<const Edge*>& cycle) {
  std::vector<std::string> units;
  units.reserve(cycle.size());
  for (const Edge* e : cycle) units.push_back(e->from);
  return absl::StrJoin(units, " ");
}

std::vector<std::string> AllUnits(const CycleSearch& s) {
  std::vector<std::string> out;
  for (const auto& c : s.cycles) out.push_back(Units(c));
  return out;
}

std::vector<std::string> Links(const Finding& f) {
  std::vector<std::string> out;
  for (const Step& s : f.chain) {
    out.push_back(
        absl::StrCat(s.from, " --", s.relation, "--> ", s.to, "   (", s.why.Describe(), ")"));
  }
  return out;
}

TEST(CycleSearchTest, TwoCyclesSharingAUnitAreBothListedWithTheirChains) {
  // b is in a <-> b and in b -> c -> d -> b: one strongly connected set, two cycles.
  const Model m = Ordered({{"a.service", "b.service"},
                           {"b.service", "a.service"},
                           {"b.service", "c.service"},
                           {"c.service", "d.service"},
                           {"d.service", "b.service"}});
  const CycleFindings f = FindCycles(m);
  ASSERT_THAT(f.findings, SizeIs(2));
  EXPECT_THAT(Links(f.findings[0]),
              ElementsAre("a.service --After--> b.service   (/etc/systemd/system/a.service:1 "
                          "After=b.service)",
                          "b.service --After--> a.service   (/etc/systemd/system/b.service:2 "
                          "After=a.service)"));
  EXPECT_THAT(Links(f.findings[1]),
              ElementsAre("b.service --After--> c.service   (/etc/systemd/system/b.service:3 "
                          "After=c.service)",
                          "c.service --After--> d.service   (/etc/systemd/system/c.service:4 "
                          "After=d.service)",
                          "d.service --After--> b.service   (/etc/systemd/system/d.service:5 "
                          "After=b.service)"));
  EXPECT_EQ(f.findings[0].unit, "a.service");
  EXPECT_EQ(f.findings[1].unit, "b.service");
  EXPECT_THAT(f.cut_short, IsEmpty());
}

TEST(CycleSearchTest, TwoDisjointCyclesShortestFirst) {
  // The longer cycle comes first in the transaction; the shorter one is still listed first.
  const Model m = Ordered({{"p.service", "q.service"},
                           {"q.service", "r.service"},
                           {"r.service", "p.service"},
                           {"y.service", "x.service"},
                           {"x.service", "y.service"}});
  const CycleFindings f = FindCycles(m);
  ASSERT_THAT(f.findings, SizeIs(2));
  EXPECT_THAT(Links(f.findings[0]),
              ElementsAre("x.service --After--> y.service   (/etc/systemd/system/x.service:5 "
                          "After=y.service)",
                          "y.service --After--> x.service   (/etc/systemd/system/y.service:4 "
                          "After=x.service)"));
  EXPECT_THAT(Links(f.findings[1]),
              ElementsAre("p.service --After--> q.service   (/etc/systemd/system/p.service:1 "
                          "After=q.service)",
                          "q.service --After--> r.service   (/etc/systemd/system/q.service:2 "
                          "After=r.service)",
                          "r.service --After--> p.service   (/etc/systemd/system/r.service:3 "
                          "After=p.service)"));
  EXPECT_THAT(f.cut_short, IsEmpty());
}

TEST(CycleSearchTest, ChainsStartAtAUnitToEditAndTargetsRankLast) {
  const Model m = Ordered({{"a.target", "z.service"},
                           {"z.service", "a.target"},
                           {"b.target", "b.target"},
                           {"a.target", "c.target"},
                           {"c.target", "a.target"}});
  // The self-loop is the shortest; then both 2-cycles, the one with a service first.
  EXPECT_THAT(AllUnits(SearchCycles(m)),
              ElementsAre("b.target", "z.service a.target", "a.target c.target"));
}

TEST(CycleSearchTest, EveryElementaryCycleOfACompleteGraph) {
  // 4 units each after every other: C(4,2)=6 cycles of 2, 4*2=8 of 3, 3!=6 of 4.
  const Model k4 = Complete(4);
  const CycleSearch s4 = SearchCycles(k4);
  ASSERT_THAT(s4.cycles, SizeIs(20));
  std::map<size_t, int> by_length;
  for (const auto& c : s4.cycles) ++by_length[c.size()];
  EXPECT_THAT(by_length,
              ElementsAre(std::pair<const size_t, int>(2, 6), std::pair<const size_t, int>(3, 8),
                          std::pair<const size_t, int>(4, 6)));
  const std::vector<std::string> all = AllUnits(s4);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size());
  EXPECT_EQ(all.front(), "u000.service u001.service");
  EXPECT_EQ(all.back(), "u000.service u003.service u002.service u001.service");
  EXPECT_THAT(s4.cut_short, IsEmpty());
  // 5 units: 10 + 20 + 30 + 24 = 84, under the limit: all listed, nothing cut short.
  const Model k5 = Complete(5);
  const CycleSearch s5 = SearchCycles(k5);
  EXPECT_THAT(s5.cycles, SizeIs(84));
  EXPECT_THAT(s5.cut_short, IsEmpty());
}

TEST(CycleSearchTest, LimitReportsTheSetsWithMoreCycles) {
  const Model m = Ordered({{"a.service", "b.service"},  // a <-> b: one cycle
                           {"b.service", "a.service"},
                           {"c.service", "d.service"},  // c <-> d and c -> d -> e -> c
                           {"d.service", "c.service"},
                           {"d.service", "e.service"},
                           {"e.service", "c.service"},
                           {"f.service", "g.service"},  // f -> g -> h -> f
                           {"g.service", "h.service"},
                           {"h.service", "f.service"}});
  const CycleSearch two = SearchCycles(m, {.max_cycles = 2});
  EXPECT_THAT(AllUnits(two), ElementsAre("a.service b.service", "c.service d.service"));
  ASSERT_THAT(two.cut_short, SizeIs(2));
  EXPECT_THAT(two.cut_short[0].units, ElementsAre("c.service", "d.service", "e.service"));
  EXPECT_EQ(two.cut_short[0].listed, 1u);
  EXPECT_TRUE(two.cut_short[0].more_exist);
  EXPECT_THAT(two.cut_short[1].units, ElementsAre("f.service", "g.service", "h.service"));
  EXPECT_EQ(two.cut_short[1].listed, 0u);
  EXPECT_TRUE(two.cut_short[1].more_exist);
  // Exactly as many cycles as the limit: the search must see that none is left.
  const CycleSearch four = SearchCycles(m, {.max_cycles = 4});
  EXPECT_THAT(AllUnits(four),
              ElementsAre("a.service b.service", "c.service d.service",
                          "c.service d.service e.service", "f.service g.service h.service"));
  EXPECT_THAT(four.cut_short, IsEmpty());
  // All of a set's cycles have the length where the limit falls: what is left is of that
  // length, not longer.
  const Model star = Ordered({{"c.service", "l1.service"},
                              {"l1.service", "c.service"},
                              {"c.service", "l2.service"},
                              {"l2.service", "c.service"},
                              {"c.service", "l3.service"},
                              {"l3.service", "c.service"}});
  const CycleSearch s = SearchCycles(star, {.max_cycles = 2});
  EXPECT_THAT(AllUnits(s), ElementsAre("c.service l1.service", "c.service l2.service"));
  ASSERT_THAT(s.cut_short, SizeIs(1));
  EXPECT_EQ(s.cut_short[0].listed, 2u);
  EXPECT_TRUE(s.cut_short[0].more_exist);
  // a <-> b <-> c: a -> b -> c could close a longer cycle only through b again, so there is
  // none; the limit falling on the last cycle must not report the set.
  const Model chain = Ordered({{"a.service", "b.service"},
                               {"b.service", "a.service"},
                               {"b.service", "c.service"},
                               {"c.service", "b.service"}});
  const CycleSearch exact = SearchCycles(chain, {.max_cycles = 2});
  EXPECT_THAT(AllUnits(exact), ElementsAre("a.service b.service", "b.service c.service"));
  EXPECT_THAT(exact.cut_short, IsEmpty());
}

TEST(CycleSearchTest, CyclesOfOneLengthAreOrderedAcrossSets) {
  // Two sets, {a, d, e} and {b, c}: "b c" sorts between the first set's two cycles.
  const Model m = Ordered({{"a.service", "d.service"},
                           {"d.service", "a.service"},
                           {"d.service", "e.service"},
                           {"e.service", "d.service"},
                           {"b.service", "c.service"},
                           {"c.service", "b.service"}});
  EXPECT_THAT(AllUnits(SearchCycles(m)),
              ElementsAre("a.service d.service", "b.service c.service", "d.service e.service"));
  const CycleSearch two = SearchCycles(m, {.max_cycles = 2});
  EXPECT_THAT(AllUnits(two), ElementsAre("a.service d.service", "b.service c.service"));
  ASSERT_THAT(two.cut_short, SizeIs(1));
  EXPECT_THAT(two.cut_short[0].units, ElementsAre("a.service", "d.service", "e.service"));
  EXPECT_EQ(two.cut_short[0].listed, 1u);
  EXPECT_TRUE(two.cut_short[0].more_exist);
}

TEST(CycleSearchTest, DenseSetIsBoundedAndSaysSo) {
  // The 100th cycle: 2-cycles go root by root, u000 with each other unit first.
  for (const auto& [n, last] : std::map<int, std::string>{{30, "u003.service u019.service"},
                                                          {300, "u000.service u100.service"}}) {
    const Model m = Complete(n);
    const auto start = std::chrono::steady_clock::now();
    const CycleSearch s = SearchCycles(m);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "[ timing ] %d units all ordered after each other (%zu edges): %zu cycles listed, "
        "%.1f ms\n",
        n, m.graph.edges().size(), s.cycles.size(), ms);
    EXPECT_LT(ms, 10'000.0);  // unbounded enumeration would not finish at all
    ASSERT_THAT(s.cycles, SizeIs(100));
    for (const auto& c : s.cycles) EXPECT_THAT(c, SizeIs(2));
    EXPECT_EQ(Units(s.cycles[0]), "u000.service u001.service");
    EXPECT_EQ(Units(s.cycles[99]), last);
    ASSERT_THAT(s.cut_short, SizeIs(1));
    EXPECT_THAT(s.cut_short[0].units, SizeIs(n));
    EXPECT_EQ(s.cut_short[0].listed, 100u);
    EXPECT_TRUE(s.cut_short[0].more_exist);
  }
}

TEST(CycleSearchTest, StepBudgetStillListsOneCyclePerSet) {
  // A long ring and a dense set, one step of budget: the dense set's search stops, but each set
  // still gives its shortest cycle, as the one-cycle-per-set search did.
  std::vector<std::pair<std::string, std::string>> after;
  after.reserve(50);
  for (int i = 0; i < 50; ++i) {
    after.emplace_back(absl::StrFormat("ring%02d.service", i),
                       absl::StrFormat("ring%02d.service", (i + 1) % 50));
  }
  Model m = Ordered(after);
  const Model dense = Complete(8);
  for (const Edge& e : dense.graph.edges()) {
    m.graph.Add(e);
    if (m.in_transaction.insert(e.from).second) m.transaction.push_back(e.from);
  }
  const CycleSearch s = SearchCycles(m, {.max_cycles = 100, .max_steps = 1});
  ASSERT_GE(s.cycles.size(), 2u);
  EXPECT_EQ(Units(s.cycles.front()), "u000.service u001.service");
  EXPECT_THAT(s.cycles.back(), SizeIs(50));
  // The ring's one cycle costs nothing from the budget; the dense set stopped unfinished.
  ASSERT_THAT(s.cut_short, SizeIs(1));
  EXPECT_THAT(s.cut_short[0].units, SizeIs(8));
  EXPECT_FALSE(s.cut_short[0].more_exist);  // the budget ran out before it could tell
}

}  // namespace
}  // namespace gatekeeper::analyze
