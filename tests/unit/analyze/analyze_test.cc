// Whole analyses over real-world unit sets (tests/fixtures/units, copied from Debian 12's
// /lib/systemd/system and the wireguard-tools package) and over this machine's own units.
#include "analyze/analyze.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "tests/unit/analyze/analysis_helpers.h"
#include "tests/unit/analyze/test_root.h"

namespace gatekeeper::analyze {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

TEST(AnalyzeTest, WireGuardSocketStall) {
  TestRoot t;
  t.CopyFixture("wireguard-stall");
  Options o;
  o.suggest_gate = true;
  const Report r = RunAnalysis(t.dir(), o);
  ASSERT_THAT(r.findings, SizeIs(1)) << RenderText(r);
  const Finding& f = r.findings[0];
  EXPECT_EQ(f.kind, FindingKind::kStall);
  EXPECT_EQ(f.unit, "foo.socket");
  EXPECT_EQ(f.device, "sys-subsystem-net-devices-wg0.device");
  EXPECT_EQ(f.creator, "wg-quick@wg0.service");
  EXPECT_EQ(Links(f),
            (std::vector<std::string>{"foo.socket --After--> sys-subsystem-net-devices-wg0.device",
                                      "sys-subsystem-net-devices-wg0.device --CreatedBy--> "
                                      "wg-quick@wg0.service",
                                      "wg-quick@wg0.service --After--> basic.target",
                                      "basic.target --After--> sockets.target",
                                      "sockets.target --After--> foo.socket"}));
  EXPECT_EQ(f.chain[0].why.Describe(), "/etc/systemd/system/foo.socket:6 BindToDevice=wg0");
  EXPECT_EQ(f.chain[4].why.Describe(),
            "implicit: socket units get Before=sockets.target unless DefaultDependencies=no");
  EXPECT_THAT(f.chain[3].why.Describe(), HasSubstr("/lib/systemd/system/basic.target:"));

  ASSERT_GE(f.fixes.size(), 2u);
  const Fix& dropin = f.fixes[0];
  EXPECT_EQ(dropin.path, "/etc/systemd/system/foo.socket.d/50-gatekeeper-no-default-deps.conf");
  EXPECT_EQ(dropin.content,
            "[Unit]\nDefaultDependencies=no\nRequires=sysinit.target\nAfter=sysinit.target\n"
            "Before=shutdown.target\nConflicts=shutdown.target\n");
  EXPECT_THAT(dropin.commands, ::testing::Contains("systemctl add-wants multi-user.target "
                                                   "foo.socket"));
  const Fix& gate = f.fixes.back();
  EXPECT_EQ(gate.path, "/etc/gatekeeper/foo.gate");
  EXPECT_THAT(gate.content, HasSubstr("[Socket]\nBindToDevice=wg0\nListenStream=8443\n"));
  EXPECT_THAT(gate.content, HasSubstr("IPAddressAllow=192.0.2.0/24\n"));
  EXPECT_THAT(gate.content, HasSubstr("[Service]\nExecStart=/usr/bin/foo --listen-fds\nUser=foo"));

  const std::string text = RenderText(r);
  EXPECT_THAT(text, HasSubstr("  foo.socket --After--> sys-subsystem-net-devices-wg0.device   "
                              "(/etc/systemd/system/foo.socket:6 BindToDevice=wg0)\n"));
  const nlohmann::json j = RenderJson(r);
  EXPECT_EQ(j["findings"][0]["kind"], "stall");
  EXPECT_EQ(j["findings"][0]["chain"][0]["line"], 6);
}

TEST(AnalyzeTest, AppliedFixLeavesNoFinding) {
  // wireguard-stall with fix 1 applied: the drop-in, and the socket hung on multi-user.target.
  TestRoot t;
  t.CopyFixture("wireguard-fixed");
  const Report r = RunAnalysis(t.dir());
  EXPECT_THAT(r.findings, SizeIs(0)) << RenderText(r);
  EXPECT_GT(r.transaction_size, 10u);
}

TEST(AnalyzeTest, IptablesPatternIsACycle) {
  TestRoot t;
  t.CopyFixture("iptables-cycle");
  const Report r = RunAnalysis(t.dir());
  ASSERT_THAT(r.findings, SizeIs(1)) << RenderText(r);
  const Finding& f = r.findings[0];
  EXPECT_EQ(f.kind, FindingKind::kCycle);
  EXPECT_EQ(Links(f),
            (std::vector<std::string>{"foo.socket --After--> network-pre.target",
                                      "network-pre.target --After--> iptables-restore.service",
                                      "iptables-restore.service --After--> basic.target",
                                      "basic.target --After--> sockets.target",
                                      "sockets.target --After--> foo.socket"}));
  EXPECT_EQ(f.chain[1].why.Describe(),
            "/etc/systemd/system/iptables-restore.service:3 Before=network-pre.target");
}

TEST(AnalyzeTest, NetworkdCreatedDeviceDoesNotStall) {
  TestRoot t;
  t.CopyFixture("networkd-wireguard");
  const Report r = RunAnalysis(t.dir());
  EXPECT_THAT(r.findings, SizeIs(0)) << RenderText(r);
}

TEST(AnalyzeTest, DeviceCreatedByFlag) {
  // The same socket, but the user says a late unit makes wg0: that is a stall.
  TestRoot t;
  t.CopyFixture("networkd-wireguard");
  Options o;
  o.device_created_by = {{"wg0", "multi-user.target"}};
  const Report r = RunAnalysis(t.dir(), o);
  ASSERT_THAT(r.findings, SizeIs(1)) << RenderText(r);
  EXPECT_EQ(r.findings[0].creator, "multi-user.target");
  EXPECT_EQ(r.findings[0].chain[1].why.Describe(),
            "implicit: --device-created-by wg0=multi-user.target");
  o.device_created_by = {{"wg0", "not a unit"}};
  o.root = t.dir();
  EXPECT_FALSE(Analyze(o).ok());
}

TEST(AnalyzeTest, MissingRootOrUnitIsAnError) {
  Options o;
  o.root = "/nonexistent-gk-root";
  EXPECT_FALSE(Analyze(o).ok());
  TestRoot t;
  t.CopyFixture("iptables-cycle");
  o.root = t.dir();
  o.units = {"nope.service"};
  EXPECT_FALSE(Analyze(o).ok());
  o.units = {"foo.socket"};
  EXPECT_TRUE(Analyze(o).ok());
}

TEST(AnalyzeTest, BrokenUnitsAreWarningsNeverCrashes) {
  TestRoot t;
  t.CopyFixture("wireguard-stall");
  t.Write("/etc/systemd/system/junk.service", std::string("\x01\x02[Unit\n\0zz=\n", 13));
  t.Write("/etc/systemd/system/bad.service", "[Unit]\nAfter=not-a-unit %H.service\nWants=\n");
  t.Symlink("loop2.service", "/etc/systemd/system/loop1.service");
  t.Symlink("loop1.service", "/etc/systemd/system/loop2.service");
  std::filesystem::create_directories(t.dir() + "/etc/systemd/system/dir.service");
  for (const char* u :
       {"junk.service", "bad.service", "loop1.service", "dir.service", "missing.service"}) {
    t.Symlink(std::string("/etc/systemd/system/") + u,
              std::string("/etc/systemd/system/multi-user.target.wants/") + u);
  }
  t.Symlink("/dev/null", "/etc/systemd/system/multi-user.target.wants/masked.service");
  const Report r = RunAnalysis(t.dir());
  EXPECT_THAT(r.findings, SizeIs(1));  // the stall is still found
  const std::string text = RenderText(r);
  EXPECT_THAT(text, HasSubstr("loop1.service: warning: "));
  EXPECT_THAT(text, HasSubstr("bad.service:2: warning: \"not-a-unit\""));
  EXPECT_THAT(text, HasSubstr("unsupported specifier %H"));
  EXPECT_THAT(text, HasSubstr("dir.service: warning: is a directory"));
}

// This machine's units must give no false alarms. A copy of /lib/systemd/system only (no
// local /etc), then the real root with its enabled units.
TEST(AnalyzeTest, ThisMachinesUnitsHaveNoFindings) {
  if (!std::filesystem::exists("/lib/systemd/system/default.target")) {
    GTEST_SKIP() << "no /lib/systemd/system/default.target here";
  }
  TestRoot t;
  std::filesystem::create_directories(t.dir() + "/lib/systemd");
  TestRoot::CopyTree("/lib/systemd/system", t.dir() + "/lib/systemd/system");
  const auto start = std::chrono::steady_clock::now();
  const Report copy = RunAnalysis(t.dir());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "[ timing ] /lib/systemd/system copy: %zu units in the transaction, %zu names "
      "looked up, %.1f ms\n",
      copy.transaction_size, copy.units_loaded, ms);
  EXPECT_THAT(copy.findings, SizeIs(0)) << RenderText(copy);
  EXPECT_GT(copy.transaction_size, 20u);

  const auto start2 = std::chrono::steady_clock::now();
  const Report host = RunAnalysis("/");
  const double ms2 =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start2).count();
  std::printf("[ timing ] / (this machine): %zu units in the transaction, %.1f ms\n",
              host.transaction_size, ms2);
  EXPECT_THAT(host.findings, SizeIs(0)) << RenderText(host);
}

}  // namespace
}  // namespace gatekeeper::analyze
