// The heart of the product, end to end: the daemon starts before the WireGuard device exists,
// binds when it appears, serves an allowed peer through a socket-activated service, drops a peer
// outside the allow list and the same port on the underlay, and keeps the service and its socket
// when the device is deleted and created again.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/wireguard_env.h"

namespace gatekeeper::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kPort = 8443;
constexpr milliseconds kConnect{10000};

int ServedPid(const std::string& reply) {
  std::vector<std::string> words = absl::StrSplit(reply, ' ');
  int pid = 0;
  return words.size() >= 2 && absl::SimpleAtoi(words[1], &pid) ? pid : 0;
}

uint64_t Denied(const nlohmann::json& gate) {
  return gate["counters"]["ingress"]["denied"].value("packets", uint64_t{0});
}

class GateWireGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GK_REQUIRE_ROOT();
    wg_ = std::make_unique<WireGuardEnv>();
    daemon_ = std::make_unique<DaemonProcess>(
        std::map<std::string, std::string>{{"web.gate", absl::StrCat("[Socket]\n"
                                                                     "ListenStream=",
                                                                     kPort,
                                                                     "\n"
                                                                     "BindToDevice=",
                                                                     wg_->server_device(),
                                                                     "\n"
                                                                     "IPAddressDeny=any\n"
                                                                     "IPAddressAllow=",
                                                                     kTunnelPeerA,
                                                                     "\n"
                                                                     "FileDescriptorName=web\n"
                                                                     "\n"
                                                                     "[Service]\n"
                                                                     "ExecStart=",
                                                                     TestServiceBinary(), "\n")}});
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::fprintf(stderr, "daemon log:\n%s\n", daemon_->Log().c_str());
    daemon_.reset();
    wg_.reset();
  }

  std::unique_ptr<WireGuardEnv> wg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(GateWireGuardTest, WaitsBindsServesDropsAndSurvivesDeviceRecreation) {
  if (!wg_) return;
  // 1. No device yet: the daemon is READY all the same, the gate waits.
  ASSERT_TRUE(daemon_->Start(wg_->server()));
  EXPECT_EQ(daemon_->Gate("web").value("state", ""), "waiting-device");

  // 2. The device comes up with its address: the gate listens.
  const auto up = Clock::now();
  wg_->CreateServerDevice();
  ASSERT_TRUE(daemon_->WaitGateState("web", "listening"));
  std::printf(
      "link-up to listening (status polled): %lld ms\n",
      static_cast<long long>(std::chrono::duration_cast<milliseconds>(Clock::now() - up).count()));

  // 3. The allowed peer reaches the socket-activated service.
  common::UniqueFd a = StartConnect(wg_->clients(), kTunnelPeerA, kTunnelServer, kPort);
  ASSERT_TRUE(WaitConnected(a.get(), kConnect));
  const std::string reply = Ask(a.get());
  EXPECT_TRUE(absl::StartsWith(reply, "web ")) << reply;
  const int pid = ServedPid(reply);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(daemon_->WaitGateState("web", "running"));
  EXPECT_EQ(daemon_->Gate("web")["service"].value("pid", 0), pid);

  // 4. A WireGuard peer outside the allow list is dropped in the kernel.
  const uint64_t denied_before = Denied(daemon_->Gate("web"));
  common::UniqueFd b = StartConnect(wg_->clients(), kTunnelPeerB, kTunnelServer, kPort);
  ASSERT_TRUE(WaitFor([&] { return Denied(daemon_->Gate("web")) > denied_before; }, kConnect));
  EXPECT_FALSE(WaitConnected(b.get(), milliseconds(1000)));

  // 5. The same port through the underlay (not WireGuard) is unreachable.
  common::UniqueFd u = StartConnect(wg_->clients(), kUnderlayClient, kUnderlayServer, kPort);
  EXPECT_FALSE(WaitConnected(u.get(), milliseconds(1500)));

  // 6. The device is deleted: the gate waits, the service and its socket stay.
  a.reset();
  wg_->DeleteServerDevice();
  ASSERT_TRUE(daemon_->WaitGateState("web", "waiting-device"));
  EXPECT_EQ(daemon_->Gate("web")["service"].value("pid", 0), pid);

  // 7. Created again (new ifindex): the same listener is bound to it, the same service serves.
  wg_->CreateServerDevice();
  wg_->ResetClientPeers();
  ASSERT_TRUE(daemon_->WaitGateState("web", "running"));
  common::UniqueFd again = StartConnect(wg_->clients(), kTunnelPeerA, kTunnelServer, kPort);
  ASSERT_TRUE(WaitConnected(again.get(), kConnect));
  EXPECT_EQ(ServedPid(Ask(again.get())), pid);

  EXPECT_EQ(daemon_->Stop(), 0);
}

}  // namespace
}  // namespace gatekeeper::testing
