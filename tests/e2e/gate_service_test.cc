// Services behind gates, end to end on a veth pair: Accept=yes with one process per connection and
// its limits, restart after a crash with clients waiting in the backlog, and `gatekeeper check`.
#include <poll.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/daemon_fixture.h"

namespace gatekeeper::testing {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kIo{5000};

// True when the peer closed the connection (EOF or reset) within the timeout.
bool Closed(int fd, milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  char b;
  return ::recv(fd, &b, 1, 0) <= 0;
}

class GateServiceTest : public DaemonTest {
 protected:
  void StartDaemon(const std::string& gate_text) {
    DaemonTest::StartDaemon({{"svc.gate", gate_text}});
    ASSERT_TRUE(daemon_->WaitGateState("svc", "listening"));
  }
};

TEST_F(GateServiceTest, AcceptYesGivesEachConnectionItsProcessAndEnforcesPerSourceLimit) {
  if (!srv_) return;
  StartDaemon(absl::StrCat("[Socket]\nListenStream=", kServer, ":2222\nAccept=yes\n",
                           "MaxConnectionsPerSource=2\n[Service]\nExecStart=", TestServiceBinary(),
                           "\n"));
  common::UniqueFd c1 = Connect(2222);
  common::UniqueFd c2 = Connect(2222);
  const std::string r1 = Ask(c1.get());
  const std::string r2 = Ask(c2.get());
  // "<fdname> <pid> <REMOTE_ADDR>": fd name "connection", the client's address, two processes.
  const std::vector<std::string> w1 = absl::StrSplit(r1, ' '), w2 = absl::StrSplit(r2, ' ');
  ASSERT_EQ(w1.size(), 3u) << r1;
  ASSERT_EQ(w2.size(), 3u) << r2;
  EXPECT_EQ(w1[0], "connection");
  EXPECT_EQ(w1[2], kClient);
  EXPECT_NE(w1[1], w2[1]);
  ASSERT_TRUE(
      WaitFor([&] { return daemon_->Gate("svc")["service"].value("connections", 0) == 2; }));

  // The third from the same source is accepted by the kernel, then closed by the daemon.
  common::UniqueFd c3 = Connect(2222);
  EXPECT_TRUE(Closed(c3.get(), kIo));
  // When one ends, its slot frees up.
  c1.reset();
  ASSERT_TRUE(
      WaitFor([&] { return daemon_->Gate("svc")["service"].value("connections", 0) == 1; }));
  common::UniqueFd c4 = Connect(2222);
  EXPECT_TRUE(absl::StartsWith(Ask(c4.get()), "connection ")) << daemon_->Log();
}

TEST_F(GateServiceTest, StandardInputSocketMakesTheConnectionStdinAndStdout) {
  if (!srv_) return;
  // inetd style, as "sshd -i": /bin/cat echoes what arrives on stdin to stdout, both the socket.
  StartDaemon(absl::StrCat("[Socket]\nListenStream=", kServer, ":7\nAccept=yes\n",
                           "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n"));
  common::UniqueFd c = Connect(7);
  EXPECT_EQ(Ask(c.get()), "hi");
}

TEST_F(GateServiceTest, CrashedServiceIsRestartedAndTheWaitingClientServed) {
  if (!srv_) return;
  StartDaemon(absl::StrCat("[Socket]\nListenStream=", kServer, ":8080\n",
                           "[Service]\nExecStart=", TestServiceBinary(), " --crash-after-first\n",
                           "Restart=on-failure\nRestartSec=200ms\n"));
  common::UniqueFd first = Connect(8080);
  const std::string r1 = Ask(first.get());
  ASSERT_TRUE(absl::StartsWith(r1, "svc ")) << r1;
  // The service exits after answering; this client waits in the listener's backlog meanwhile.
  common::UniqueFd second = Connect(8080);
  const std::string r2 = Ask(second.get());
  ASSERT_TRUE(absl::StartsWith(r2, "svc ")) << r2;
  EXPECT_NE(r1, r2);  // another pid
  EXPECT_GE(daemon_->Gate("svc")["service"].value("restarts", 0), 1);
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "svc: service pid")) << daemon_->Log();
}

TEST_F(GateServiceTest, ExplainNamesTheEntryThatDecides) {
  if (!srv_) return;
  StartDaemon(absl::StrCat("[Socket]\nListenStream=", kServer, ":8081\nIPAddressDeny=any\n",
                           "IPAddressAllow=", kClient, "\n"));
  const std::string gate_file = daemon_->config_dir() + "/svc.gate";
  auto explain = [&](std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {GatekeeperBinary(), "explain", "--runtime-dir",
                                     daemon_->runtime_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return ::gatekeeper::testing::Run(argv, out);
  };
  std::string out;
  ASSERT_EQ(explain({"svc", kClient}, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("ingress (from 192.0.2.2): allowed by ",
                                                  gate_file, ":4 IPAddressAllow=192.0.2.2")))
      << out;
  ASSERT_EQ(explain({"svc", "192.0.2.9"}, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(
      out, absl::StrCat("egress  (to 192.0.2.9): denied by ", gate_file, ":3 IPAddressDeny=any")))
      << out;
  ASSERT_EQ(explain({"--host", "192.0.2.9"}, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "no entry matched: allowed")) << out;
  EXPECT_EQ(explain({"nope", "192.0.2.9"}, &out), 1);
  EXPECT_TRUE(absl::StrContains(out, "no gate \"nope\"")) << out;
  EXPECT_EQ(explain({"svc", "example.com"}, &out), 1);
  EXPECT_TRUE(absl::StrContains(out, "not a numeric IP address")) << out;
}

TEST_F(GateServiceTest, MetricsCountWhatTheFilterDid) {
  if (!srv_) return;
  StartDaemon(
      absl::StrCat("[Socket]\nListenStream=", kServer, ":8082\nIPAddressDeny=", kClient, "\n"));
  // One denied SYN: counted by the socket filter, shown in the metrics.
  common::UniqueFd c = StartConnect(*cli_, kClient, kServer, 8082);
  ASSERT_TRUE(WaitFor([&] {
    return daemon_->Gate("svc")["counters"]["ingress"]["denied"].value("packets", 0) >= 1;
  }));
  std::string out;
  ASSERT_EQ(::gatekeeper::testing::Run(
                {GatekeeperBinary(), "metrics", "--runtime-dir", daemon_->runtime_dir()}, &out),
            0)
      << out;
  EXPECT_TRUE(absl::StrContains(out, "gatekeeper_gate_state{gate=\"svc\",state=\"listening\"} 1"))
      << out;
  EXPECT_FALSE(absl::StrContains(
      out, "gatekeeper_packets_total{gate=\"svc\",direction=\"ingress\",verdict=\"denied\"} 0"))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "gatekeeper_netlink_resyncs_total 0")) << out;
}

TEST(GatekeeperCheckTest, ReportsEveryErrorWithFileAndLine) {
  const std::string dir = absl::StrCat("/tmp/gk-test-check-", ::getpid());
  std::filesystem::create_directories(dir + "/bad.gate.d");
  std::ofstream(dir + "/bad.gate") << "[Socket]\nListenStream=8443\nBacklog=lots\nColour=red\n";
  std::ofstream(dir + "/bad.gate.d/10-more.conf") << "[Socket]\nAccept=perhaps\n";
  std::ofstream(dir + "/empty.gate") << "[Socket]\nBindToDevice=wg0\n";
  std::ofstream(dir + "/good.gate") << "[Socket]\nListenStream=9000\n";
  std::string out;
  const int rc =
      ::gatekeeper::testing::Run({GatekeeperBinary(), "check", "--config-dir", dir}, &out);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(absl::StrContains(out, dir + "/bad.gate:3:")) << out;
  EXPECT_TRUE(absl::StrContains(out, dir + "/bad.gate:4:")) << out;
  EXPECT_TRUE(absl::StrContains(out, dir + "/bad.gate.d/10-more.conf:2:")) << out;
  EXPECT_TRUE(absl::StrContains(out, dir + "/empty.gate:")) << out;
  EXPECT_FALSE(absl::StrContains(out, "good.gate:")) << out;
}

TEST(GatekeeperCheckTest, ShippedExamplesAreValid) {
  std::string out;
  EXPECT_EQ(::gatekeeper::testing::Run(
                {GatekeeperBinary(), "check", GK_SOURCE_DIR "/configs/web.gate",
                 GK_SOURCE_DIR "/configs/sshd.gate", GK_SOURCE_DIR "/configs/gatekeeper.conf"},
                &out),
            0)
      << out;
}

}  // namespace
}  // namespace gatekeeper::testing
