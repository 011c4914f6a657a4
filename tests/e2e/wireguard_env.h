// Real WireGuard for end-to-end tests: two network namespaces joined by a veth underlay
// (192.0.2.1 server, 192.0.2.2 clients) and wireguard-go devices on top: the server's device
// (198.51.100.1) and two client devices, one per peer (198.51.100.2 and 198.51.100.3), so a test
// can have an allowed and a denied WireGuard peer.
#ifndef GATEKEEPER_TESTS_E2E_WIREGUARD_ENV_H_
#define GATEKEEPER_TESTS_E2E_WIREGUARD_ENV_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/test_env.h"

namespace gatekeeper::testing {

inline constexpr char kUnderlayServer[] = "192.0.2.1";
inline constexpr char kUnderlayClient[] = "192.0.2.2";
inline constexpr char kTunnelServer[] = "198.51.100.1";
inline constexpr char kTunnelPeerA[] = "198.51.100.2";
inline constexpr char kTunnelPeerB[] = "198.51.100.3";

class WireGuardEnv {
 public:
  WireGuardEnv();  // namespaces, underlay and the client devices; the server device comes later
  ~WireGuardEnv();
  WireGuardEnv(const WireGuardEnv&) = delete;
  WireGuardEnv& operator=(const WireGuardEnv&) = delete;

  const Netns& server() const { return *srv_; }
  const Netns& clients() const { return *cli_; }
  const std::string& server_device() const { return server_dev_; }

  // Starts wireguard-go for the server device, configures keys, peers and 198.51.100.1/24, and
  // brings it up. Each call makes a new device (a new ifindex).
  void CreateServerDevice();
  // `ip link del`: wireguard-go exits with it.
  void DeleteServerDevice();
  // Makes the clients forget their session so the next packet starts a fresh handshake (after the
  // server device was re-created the old session is dead for up to ~15 s otherwise).
  void ResetClientPeers();

 private:
  struct Device {
    std::string name;
    std::string private_key;
    std::string public_key;
    pid_t pid = -1;
  };
  void StartWireGuardGo(const Netns& ns, Device& dev);
  void StopWireGuardGo(Device& dev);
  void ConfigureClient(const Device& dev, const std::string& address);

  std::unique_ptr<Netns> srv_;
  std::unique_ptr<Netns> cli_;
  std::string server_dev_;
  Device server_;
  Device peer_a_;
  Device peer_b_;
};

// Runs `wg genkey`/`wg pubkey`.
std::string WgGenKey();
std::string WgPubKey(const std::string& private_key);

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_E2E_WIREGUARD_ENV_H_
