// A fresh engine on a cgroup subtree and a bpffs directory of the test's own, with two network
// namespaces joined by veth: "srv" (192.0.2.1, 2001:db8::1) and "cli" (192.0.2.2 and 192.0.2.3,
// 2001:db8::2 and 2001:db8::3). Tear-down removes all of it and checks nothing is left.
#ifndef GATEKEEPER_TESTS_INTEGRATION_ENGINE_FIXTURE_H_
#define GATEKEEPER_TESTS_INTEGRATION_ENGINE_FIXTURE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernel/engine.h"
#include "kernel/scope.h"
#include "policy/compiler.h"
#include "tests/integration/test_env.h"

namespace gatekeeper::testing {

inline constexpr char kServerV4[] = "192.0.2.1";
inline constexpr char kAllowedV4[] = "192.0.2.2";
inline constexpr char kDeniedV4[] = "192.0.2.3";
inline constexpr char kServerV6[] = "2001:db8::1";
inline constexpr char kAllowedV6[] = "2001:db8::2";
inline constexpr char kDeniedV6[] = "2001:db8::3";

class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Compiles lists given as "IPAddressAllow=..." style values (one assignment each).
  static policy::CompiledPolicy Policy(const std::string& allow, const std::string& deny);
  // A scope named `name` on <test cgroup>/<name>.
  kernel::ScopeSpec Spec(const std::string& name, uint32_t id = 1) const;
  kernel::EngineOptions Options();
  // A listening TCP (or bound UDP) socket made inside `cgroup_path`, in the server namespace.
  common::UniqueFd ListenIn(const std::string& cgroup_path, const std::string& ip, int type);
  // The same in any namespace, with the given backlog (0: no listen()).
  common::UniqueFd SocketInCgroup(const std::string& cgroup_path, const Netns& netns,
                                  const std::string& ip, int type, int backlog);

  // The scope's counters (a failed read fails the test and gives zeros).
  static kernel::ScopeStats Stats(kernel::Scope* scope);
  // Waits until the scope has counted `n` more denied packets in `dir` than `before`.
  static bool WaitDenied(kernel::Scope* scope, const kernel::ScopeStats& before,
                         kernel::Direction dir, uint64_t n);

  std::string cgroup_root_;  // <cgroup2>/gk-test-...
  std::string bpffs_dir_;    // /sys/fs/bpf/gk-test-...
  std::unique_ptr<kernel::Engine> engine_;
  std::vector<std::string> warnings_;  // from the engine
  std::unique_ptr<Netns> srv_;
  std::unique_ptr<Netns> cli_;
  bool ready_ = false;
};

// Echoes each byte it reads upper-cased on every connection it accepts, until stopped.
class EchoServer {
 public:
  explicit EchoServer(int listen_fd);
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  int accepted() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_INTEGRATION_ENGINE_FIXTURE_H_
