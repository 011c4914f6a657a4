// The WireGuard test environment itself works: a peer reaches a socket on the server's device,
// also after the device was deleted and created again.
#include "tests/e2e/wireguard_env.h"

#include <sys/socket.h>

#include "common/socket_address.h"
#include "gtest/gtest.h"

namespace gatekeeper::testing {
namespace {

using std::chrono::milliseconds;

common::UniqueFd Listen(const Netns& ns, const char* ip) {
  common::UniqueFd fd = SocketIn(ns, AF_INET, SOCK_STREAM);
  auto addr = common::SocketAddress::Parse(ip, 0);
  EXPECT_EQ(::bind(fd.get(), addr->get(), addr->length), 0);
  EXPECT_EQ(::listen(fd.get(), 8), 0);
  return fd;
}

TEST(WireGuardEnvTest, PeerReachesServerDeviceBeforeAndAfterRecreation) {
  GK_REQUIRE_ROOT();
  WireGuardEnv wg;
  wg.CreateServerDevice();
  common::UniqueFd listener = Listen(wg.server(), kTunnelServer);
  const uint16_t port = LocalPort(listener.get());
  common::UniqueFd c = StartConnect(wg.clients(), kTunnelPeerA, kTunnelServer, port);
  EXPECT_TRUE(WaitConnected(c.get(), milliseconds(10000)));

  wg.DeleteServerDevice();
  wg.CreateServerDevice();
  wg.ResetClientPeers();
  // The other peer, to a fresh listener: this checks the environment, not socket survival.
  common::UniqueFd listener2 = Listen(wg.server(), kTunnelServer);
  common::UniqueFd c2 =
      StartConnect(wg.clients(), kTunnelPeerB, kTunnelServer, LocalPort(listener2.get()));
  EXPECT_TRUE(WaitConnected(c2.get(), milliseconds(10000)));
}

}  // namespace
}  // namespace gatekeeper::testing
