// `gatekeeper reload` (and SIGHUP) end to end: only what changed changes, a broken file changes
// nothing, a newly denied peer's connection ends at once, and reloads under load fail no allowed
// connection.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/daemon_fixture.h"

namespace gatekeeper::testing {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kIo{5000};

// The errno of the first failed recv within `timeout` (0: data or EOF, -1: nothing happened).
int RecvError(int fd, milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return -1;
  char b;
  return ::recv(fd, &b, 1, MSG_DONTWAIT) < 0 ? errno : 0;
}

class ReloadTest : public DaemonTest {
 protected:
  // A gate on kServer:port served by gk-test-service, with `lists` in its [Socket] section.
  static std::string GateText(uint16_t port, const std::string& lists) {
    return absl::StrCat("[Socket]\nListenStream=", kServer, ":", port, "\n", lists,
                        "[Service]\nExecStart=", TestServiceBinary(), "\n");
  }
  nlohmann::json Reload() {
    absl::StatusOr<nlohmann::json> r = daemon_->Request({{"command", "reload"}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nlohmann::json::object();
  }
};

TEST_F(ReloadTest, NewlyDeniedPeerIsResetAtOnce) {
  if (!srv_) return;
  StartDaemon({{"svc.gate", GateText(8080, "")}});
  ASSERT_TRUE(daemon_->WaitGateState("svc", "listening"));
  common::UniqueFd c = Connect(8080);
  ASSERT_TRUE(absl::StartsWith(Ask(c.get()), "svc ")) << daemon_->Log();

  daemon_->WriteConfig("svc.gate", GateText(8080, absl::StrCat("IPAddressDeny=", kClient, "\n")));
  const auto before = std::chrono::steady_clock::now();
  const nlohmann::json reply = Reload();
  ASSERT_FALSE(reply.contains("error")) << reply.dump();
  EXPECT_EQ(reply["changes"], nlohmann::json::array({"gate svc: access lists changed: filters "
                                                     "swapped"}));
  // The reset reaches the client at once, not after TCP's retransmissions give up (minutes).
  EXPECT_EQ(RecvError(c.get(), milliseconds(2000)), ECONNRESET);
  EXPECT_LT(std::chrono::steady_clock::now() - before, milliseconds(2000));
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "gate svc: ended 1 established connection"))
      << daemon_->Log();
  // And the client is denied from now on: its SYN is dropped.
  common::UniqueFd again = StartConnect(*cli_, kClient, kServer, 8080);
  EXPECT_FALSE(WaitConnected(again.get(), milliseconds(300)));
}

// A change of the host lists changes every gate, and the gates' swaps go at once: each gate must
// end up with its own lists merged with the new host lists. Gates that allow the client
// themselves keep it; the others reset its connection and drop its new ones.
TEST_F(ReloadTest, HostListChangeReachesEveryGateWithItsOwnLists) {
  if (!srv_) return;
  constexpr int kGates = 6;
  std::map<std::string, std::string> files;
  for (int i = 0; i < kGates; ++i) {
    const std::string own = i % 2 == 1 ? absl::StrCat("IPAddressAllow=", kClient, "\n") : "";
    files[absl::StrCat("g", i, ".gate")] = GateText(static_cast<uint16_t>(8100 + i), own);
  }
  StartDaemon(files);
  std::vector<common::UniqueFd> conns;
  for (int i = 0; i < kGates; ++i) {
    ASSERT_TRUE(daemon_->WaitGateState(absl::StrCat("g", i), "listening"));
    conns.push_back(Connect(static_cast<uint16_t>(8100 + i)));
    ASSERT_TRUE(absl::StartsWith(Ask(conns.back().get()), absl::StrCat("g", i, " ")))
        << daemon_->Log();
  }

  daemon_->WriteConfig("gatekeeper.conf", absl::StrCat("[Host]\nIPAddressDeny=", kClient, "\n"));
  nlohmann::json reply = Reload();
  ASSERT_FALSE(reply.contains("error")) << reply.dump();
  for (int i = 0; i < kGates; ++i) {
    SCOPED_TRACE(absl::StrCat("gate g", i));
    const auto port = static_cast<uint16_t>(8100 + i);
    if (i % 2 == 1) {
      EXPECT_TRUE(absl::StartsWith(Ask(conns[i].get()), absl::StrCat("g", i, " ")));
      common::UniqueFd again = StartConnect(*cli_, kClient, kServer, port);
      EXPECT_TRUE(WaitConnected(again.get(), kIo));
    } else {
      EXPECT_EQ(RecvError(conns[i].get(), milliseconds(2000)), ECONNRESET);
      common::UniqueFd again = StartConnect(*cli_, kClient, kServer, port);
      EXPECT_FALSE(WaitConnected(again.get(), milliseconds(300)));
    }
  }

  daemon_->WriteConfig("gatekeeper.conf", "");
  reply = Reload();
  ASSERT_FALSE(reply.contains("error")) << reply.dump();
  for (int i = 0; i < kGates; ++i) {
    common::UniqueFd again = Connect(static_cast<uint16_t>(8100 + i));
    EXPECT_TRUE(absl::StartsWith(Ask(again.get()), absl::StrCat("g", i, " "))) << "gate g" << i;
  }
  EXPECT_EQ(daemon_->Stop(), 0);
}

TEST_F(ReloadTest, HundredReloadsUnderLoadFailNoAllowedConnection) {
  if (!srv_) return;
  const std::string base = "IPAddressDeny=any\nIPAddressAllow=192.0.2.0/24\n";
  StartDaemon({{"svc.gate", GateText(8080, base)}});
  ASSERT_TRUE(daemon_->WaitGateState("svc", "listening"));
  common::UniqueFd kept = Connect(8080);
  const std::string first_answer = Ask(kept.get());
  ASSERT_TRUE(absl::StartsWith(first_answer, "svc ")) << daemon_->Log();

  std::atomic<bool> stop{false};
  std::atomic<int> served{0}, failed{0};
  std::thread load([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!stop && std::chrono::steady_clock::now() < deadline) {
      common::UniqueFd fd = StartConnect(*cli_, kClient, kServer, 8080);
      if (WaitConnected(fd.get(), milliseconds(2000)) && absl::StartsWith(Ask(fd.get()), "svc ")) {
        ++served;
      } else {
        ++failed;
      }
    }
  });
  // Alternate between two policies that both allow the client: each reload swaps the tries.
  int reloads_ok = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string extra = i % 2 == 0 ? "IPAddressAllow=198.51.100.0/24\n" : "";
    daemon_->WriteConfig("svc.gate", GateText(8080, base + extra));
    const nlohmann::json reply = Reload();
    if (!reply.contains("error") && reply["changes"].size() == 1) ++reloads_ok;
  }
  // Let the load see the last policy too before stopping it.
  const int served_before = served;
  EXPECT_TRUE(WaitFor([&] { return served > served_before; }));
  stop = true;
  load.join();
  EXPECT_EQ(reloads_ok, 100);
  EXPECT_EQ(failed, 0) << "served " << served;
  EXPECT_GT(served, 0);
  // The connection made before the reloads lives on, served by the same process.
  EXPECT_EQ(Ask(kept.get()), first_answer);
}

TEST_F(ReloadTest, BrokenFileChangesNothingAndNamesFileAndLine) {
  if (!srv_) return;
  StartDaemon(
      {{"svc.gate",
        GateText(8080, absl::StrCat("IPAddressDeny=any\nIPAddressAllow=", kClient, "\n"))}});
  ASSERT_TRUE(daemon_->WaitGateState("svc", "listening"));
  common::UniqueFd kept = Connect(8080);
  const std::string answer = Ask(kept.get());
  ASSERT_TRUE(absl::StartsWith(answer, "svc ")) << daemon_->Log();

  // Line 3 would deny everyone, line 5 is broken: nothing of it may take effect.
  daemon_->WriteConfig("svc.gate",
                       "[Socket]\nListenStream=192.0.2.1:8080\nIPAddressDeny=any\n"
                       "ListenStream=192.0.2.1:9090\nBacklog=lots\n");
  daemon_->WriteConfig("new.gate", "[Socket]\nListenStream=192.0.2.1:7070\n");
  std::string out;
  EXPECT_EQ(::gatekeeper::testing::Run(
                {GatekeeperBinary(), "reload", "--runtime-dir", daemon_->runtime_dir()}, &out),
            1);
  EXPECT_TRUE(absl::StrContains(out, "nothing was changed")) << out;
  EXPECT_TRUE(absl::StrContains(out, daemon_->config_dir() + "/svc.gate:5:")) << out;

  EXPECT_EQ(Ask(kept.get()), answer);
  common::UniqueFd fresh = Connect(8080);
  EXPECT_EQ(Ask(fresh.get()), answer);  // still allowed, by the same service process
  EXPECT_TRUE(daemon_->Gate("new").empty());
  const nlohmann::json gate = daemon_->Gate("svc");
  EXPECT_EQ(gate["listen"], nlohmann::json::array({"ListenStream=192.0.2.1:8080"})) << gate;
}

TEST_F(ReloadTest, OnlyChangedGatesAreTouched) {
  if (!srv_) return;
  StartDaemon({{"keep.gate", GateText(8001, "")},
               {"gone.gate", GateText(8002, "")},
               {"moved.gate", GateText(8003, "")},
               {"restarted.gate", GateText(8004, "")}});
  for (const char* g : {"keep", "gone", "moved", "restarted"}) {
    ASSERT_TRUE(daemon_->WaitGateState(g, "listening")) << g;
  }
  common::UniqueFd keep = Connect(8001);
  const std::string keep_answer = Ask(keep.get());
  common::UniqueFd restarted = Connect(8004);
  const std::string restarted_answer = Ask(restarted.get());
  ASSERT_TRUE(absl::StartsWith(keep_answer, "keep ")) << daemon_->Log();
  ASSERT_TRUE(absl::StartsWith(restarted_answer, "restarted ")) << daemon_->Log();

  daemon_->RemoveConfig("gone.gate");
  daemon_->WriteConfig("moved.gate", GateText(8013, ""));
  daemon_->WriteConfig("restarted.gate", GateText(8004, "") + "Environment=X=1\n");
  daemon_->WriteConfig("added.gate", GateText(8005, ""));
  // SIGHUP does what `gatekeeper reload` does.
  ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(daemon_->Log(), "reloaded: "); }));
  const std::string log = daemon_->Log();
  EXPECT_TRUE(absl::StrContains(log, "gate gone: removed")) << log;
  EXPECT_TRUE(absl::StrContains(log, "gate moved: Listen*= changed: stopped and built again"))
      << log;
  EXPECT_TRUE(absl::StrContains(
      log, "gate restarted: service changed (Environment=): restarted on the same listeners"))
      << log;
  EXPECT_TRUE(absl::StrContains(log, "gate added: added")) << log;

  ASSERT_TRUE(daemon_->WaitGateState("added", "listening"));
  ASSERT_TRUE(daemon_->WaitGateState("moved", "listening"));
  ASSERT_TRUE(WaitFor([&] { return daemon_->Gate("gone").empty(); }));
  // The untouched gate kept its service and this connection.
  EXPECT_EQ(Ask(keep.get()), keep_answer);
  // The restarted service lost its connections; a new one reaches a new process.
  EXPECT_EQ(RecvError(restarted.get(), kIo), 0);  // EOF
  common::UniqueFd again = Connect(8004);
  const std::string again_answer = Ask(again.get());
  EXPECT_TRUE(absl::StartsWith(again_answer, "restarted ")) << again_answer;
  EXPECT_NE(again_answer, restarted_answer);
  common::UniqueFd moved = Connect(8013);
  EXPECT_TRUE(absl::StartsWith(Ask(moved.get()), "moved ")) << daemon_->Log();
  common::UniqueFd added = Connect(8005);
  EXPECT_TRUE(absl::StartsWith(Ask(added.get()), "added ")) << daemon_->Log();
  // The removed gate goes once its service has stopped; then nothing listens on its port, nor
  // on the moved gate's old one.
  ASSERT_TRUE(WaitFor(
      [&] { return !std::filesystem::exists(daemon_->cgroup_base() + "/gates/gone.socket"); }));
  for (uint16_t port : {8002, 8003}) {
    common::UniqueFd fd = StartConnect(*cli_, kClient, kServer, port);
    EXPECT_FALSE(WaitConnected(fd.get(), milliseconds(500))) << port;
  }
  EXPECT_EQ(daemon_->Stop(), 0);
}

// ExecStart= is expanded when the service starts: a reload that changes only Environment=
// restarts the service with the new arguments.
TEST_F(ReloadTest, EnvironmentChangeReachesTheExpandedCommandLine) {
  if (!srv_) return;
  auto gate = [](const std::string& greeting) {
    return absl::StrCat(
        "[Socket]\nListenStream=", kServer, ":8006\n[Service]\nEnvironment=\"G=", greeting,
        "\"\nExecStart=", TestServiceBinary(), " --print-env ${G} $G $$G\nStart=immediately\n");
  };
  // The arguments each instance printed, in order.
  auto printed = [this] {
    std::vector<std::string> args;
    for (absl::string_view line : absl::StrSplit(daemon_->Log(), '\n')) {
      const size_t at = line.find("env: ARG=");
      if (at != absl::string_view::npos) args.emplace_back(line.substr(at + 9));
    }
    return args;
  };
  StartDaemon({{"env.gate", gate("hello world")}});
  ASSERT_TRUE(WaitFor([&] { return printed().size() == 4; })) << daemon_->Log();
  daemon_->WriteConfig("env.gate", gate("bye"));
  const nlohmann::json reply = Reload();
  ASSERT_FALSE(reply.contains("error")) << reply.dump();
  ASSERT_TRUE(WaitFor([&] { return printed().size() == 7; })) << daemon_->Log();
  EXPECT_EQ(printed(),
            std::vector<std::string>({"hello world", "hello", "world", "$G", "bye", "bye", "$G"}));
}

}  // namespace
}  // namespace gatekeeper::testing
