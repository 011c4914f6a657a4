// Several ordering cycles in one unit set: each listed with its chain, fixes given once, and a
// dense set cut short with a plain message in the text and the JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "analyze/analyze.h"
#include "tests/unit/analyze/analysis_helpers.h"
#include "tests/unit/analyze/test_root.h"

namespace gatekeeper::analyze {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(AnalyzeCyclesTest, TwoFirewallsMakeTwoCyclesThroughOneSocket) {
  // iptables-cycle plus a second firewall ordered the same way: both cycles run through
  // foo.socket, network-pre.target, basic.target and sockets.target.
  TestRoot t;
  t.CopyFixture("iptables-cycle");
  t.Write("/etc/systemd/system/nftables.service",
          "[Unit]\nDescription=nftables\nBefore=network-pre.target\nWants=network-pre.target\n\n"
          "[Service]\nType=oneshot\nExecStart=/usr/sbin/nft -f /etc/nftables.conf\n");
  t.Symlink("/etc/systemd/system/nftables.service",
            "/etc/systemd/system/multi-user.target.wants/nftables.service");
  const Report r = RunAnalysis(t.dir());
  const std::string text = RenderText(r);
  ASSERT_THAT(r.findings, SizeIs(2)) << text;
  EXPECT_THAT(Links(r.findings[0]),
              ElementsAre("foo.socket --After--> network-pre.target",
                          "network-pre.target --After--> iptables-restore.service",
                          "iptables-restore.service --After--> basic.target",
                          "basic.target --After--> sockets.target",
                          "sockets.target --After--> foo.socket"));
  EXPECT_THAT(Links(r.findings[1]), ElementsAre("foo.socket --After--> network-pre.target",
                                                "network-pre.target --After--> nftables.service",
                                                "nftables.service --After--> basic.target",
                                                "basic.target --After--> sockets.target",
                                                "sockets.target --After--> foo.socket"));
  EXPECT_EQ(r.findings[1].chain[1].why.Describe(),
            "/etc/systemd/system/nftables.service:3 Before=network-pre.target");
  EXPECT_EQ(r.findings[1].chain[2].why.Describe(),
            "implicit: service units get After=basic.target unless DefaultDependencies=no");
  EXPECT_THAT(r.cut_short, IsEmpty());

  // foo.socket's drop-in is given once, in full, and the second cycle points back to it.
  const std::string dropin = "/etc/systemd/system/foo.socket.d/50-gatekeeper-no-default-deps.conf";
  EXPECT_EQ(Count(text, dropin + ":\n"), 1u) << text;
  ASSERT_FALSE(r.findings[1].fixes.empty());
  const Fix& again = r.findings[1].fixes[0];
  EXPECT_EQ(again.path, dropin);
  EXPECT_EQ(again.content, "");
  EXPECT_EQ(again.note, "the same as fix 1.1, which breaks this chain too");
  // So is the edit of foo.socket's After= line; each firewall keeps its own drop-in.
  EXPECT_EQ(Count(text, "drop the ordering foo.socket --After--> network-pre.target"), 2u);
  EXPECT_EQ(Count(text, "note: the same as fix 1.3, which breaks this chain too"), 1u) << text;
  EXPECT_EQ(Count(text, "iptables-restore.service.d/50-gatekeeper-no-default-deps.conf:\n"), 1u);
  EXPECT_EQ(Count(text, "nftables.service.d/50-gatekeeper-no-default-deps.conf:\n"), 1u);
}

TEST(AnalyzeCyclesTest, OneDropInBreaksEveryChainThroughItsUnit) {
  // x.service closes a second loop through foo.socket's default After=sysinit.target, next to
  // the fixture's loop through its default Before=sockets.target. Two drop-ins for foo.socket,
  // each dropping only its own link, would overwrite each other and leave a loop.
  TestRoot t;
  t.CopyFixture("iptables-cycle");
  t.Write("/etc/systemd/system/x.service",
          "[Unit]\nDefaultDependencies=no\nAfter=foo.socket\nBefore=sysinit.target\n\n"
          "[Service]\nExecStart=/usr/bin/x\n");
  t.Symlink("/etc/systemd/system/x.service",
            "/etc/systemd/system/multi-user.target.wants/x.service");
  const Report r = RunAnalysis(t.dir());
  const std::string text = RenderText(r);
  ASSERT_THAT(r.findings, SizeIs(4)) << text;
  EXPECT_THAT(Links(r.findings[0]), ElementsAre("foo.socket --After--> sysinit.target",
                                                "sysinit.target --After--> x.service",
                                                "x.service --After--> foo.socket"));
  EXPECT_EQ(r.findings[0].chain[0].why.Describe(),
            "implicit: socket units get Requires= and After=sysinit.target unless "
            "DefaultDependencies=no");
  ASSERT_FALSE(r.findings[0].fixes.empty());
  const Fix& dropin = r.findings[0].fixes[0];
  EXPECT_EQ(dropin.path, "/etc/systemd/system/foo.socket.d/50-gatekeeper-no-default-deps.conf");
  EXPECT_EQ(dropin.content,
            "[Unit]\nDefaultDependencies=no\nRequires=sysinit.target\nBefore=shutdown.target\n"
            "Conflicts=shutdown.target\n");
  EXPECT_THAT(dropin.note, HasSubstr("drops Before=sockets.target, After=sysinit.target"));
  EXPECT_EQ(Count(text, dropin.path + ":\n"), 1u) << text;
  EXPECT_EQ(r.findings[1].fixes[0].path, dropin.path);
  EXPECT_EQ(r.findings[1].fixes[0].note, "the same as fix 1.1, which breaks this chain too");
}

TEST(AnalyzeCyclesTest, DenseUnitSetIsCutShortInTextAndJson) {
  // 30 services, each ordered after the 29 others: more than 10^30 cycles.
  TestRoot t;
  std::vector<std::string> names;
  names.reserve(30);
  for (int i = 0; i < 30; ++i) names.push_back(absl::StrFormat("u%02d.service", i));
  for (const std::string& name : names) {
    std::vector<std::string> others;
    for (const std::string& o : names) {
      if (o != name) others.push_back(o);
    }
    t.Write("/etc/systemd/system/" + name,
            absl::StrCat("[Unit]\nAfter=", absl::StrJoin(others, " "), "\n"));
  }
  t.Write("/lib/systemd/system/default.target",
          absl::StrCat("[Unit]\nWants=", absl::StrJoin(names, " "), "\n"));
  const auto start = std::chrono::steady_clock::now();
  const Report r = RunAnalysis(t.dir());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ timing ] 30 unit files all ordered after each other: %zu findings, %.1f ms\n",
              r.findings.size(), ms);
  EXPECT_LT(ms, 20'000.0);
  ASSERT_THAT(r.findings, SizeIs(100));
  EXPECT_THAT(Links(r.findings[0]), ElementsAre("u00.service --After--> u01.service",
                                                "u01.service --After--> u00.service"));
  ASSERT_THAT(r.cut_short, SizeIs(1));

  const std::string text = RenderText(r);
  EXPECT_THAT(text, HasSubstr("cycles cut short in 1 strongly connected set(s) of units (at most "
                              "100 cycles are listed"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "  more cycles exist among these 30 units: ", absl::StrJoin(names, ", "),
                        "; fix the ones above and run again\n")));
  const nlohmann::json j = RenderJson(r);
  EXPECT_EQ(j["cycle_limit"], 100);
  EXPECT_EQ(j["cut_short_sets"], 1);
  EXPECT_EQ(j["cut_short"][0]["units"].size(), 30u);
  EXPECT_EQ(j["cut_short"][0]["cycles_listed"], 100);
  EXPECT_EQ(j["cut_short"][0]["more_cycles_exist"], true);
  EXPECT_EQ(j["findings"].size(), 100u);
}

}  // namespace
}  // namespace gatekeeper::analyze
