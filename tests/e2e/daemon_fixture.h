// The usual stage of an end-to-end test: two network namespaces on a veth pair, the server side
// at kServer, the client at kClient, and a `gatekeeper run` in the server's namespace.
#ifndef GATEKEEPER_TESTS_E2E_DAEMON_FIXTURE_H_
#define GATEKEEPER_TESTS_E2E_DAEMON_FIXTURE_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/e2e/daemon_process.h"

namespace gatekeeper::testing {

class DaemonTest : public ::testing::Test {
 protected:
  static constexpr char kServer[] = "192.0.2.1";
  static constexpr char kClient[] = "192.0.2.2";

  // Skips (or fails, see GK_REQUIRE_ROOT) without root; then srv_ stays null and the test body
  // returns at once.
  void SetUp() override;
  // Prints the daemon's log when the test failed, then removes daemon and namespaces.
  void TearDown() override;
  // Starts a daemon with these configuration files; a failed start fails the test.
  void StartDaemon(const std::map<std::string, std::string>& files);
  // A connection from the client to kServer:port, connected within 5 s (else the test fails).
  common::UniqueFd Connect(uint16_t port);

  std::string client_if_;  // the client's veth
  std::unique_ptr<Netns> srv_, cli_;
  std::unique_ptr<DaemonProcess> daemon_;
};

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_E2E_DAEMON_FIXTURE_H_
