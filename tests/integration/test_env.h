// Shared pieces of the privileged tests: the skip rule, unique names, network namespaces with
// veth pairs, sockets in a namespace, and waiting with a deadline instead of sleeping.
#ifndef GATEKEEPER_TESTS_INTEGRATION_TEST_ENV_H_
#define GATEKEEPER_TESTS_INTEGRATION_TEST_ENV_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace gatekeeper::testing {

// Skips the test unless it runs as root; with GATEKEEPER_REQUIRE_PRIVILEGED=1 that skip becomes a
// failure, so a CI run as root can never pass with the kernel tests quietly left out.
#define GK_REQUIRE_ROOT()                                                             \
  do {                                                                                \
    if (!::gatekeeper::testing::IsRoot()) {                                           \
      if (::gatekeeper::testing::PrivilegedRequired()) {                              \
        FAIL() << "needs root, and GATEKEEPER_REQUIRE_PRIVILEGED=1 forbids skipping"; \
      }                                                                               \
      GTEST_SKIP() << "needs root (BPF, cgroups, network namespaces)";                \
    }                                                                                 \
  } while (false)

bool IsRoot();
bool PrivilegedRequired();

// "<prefix><pid>x<counter>", at most 15 characters (interface-name limit).
std::string UniqueName(const std::string& prefix);

// Runs a program without a shell; returns its exit status, output in `output` when given.
int Run(const std::vector<std::string>& argv, std::string* output = nullptr);
// Runs and fails the calling test on a non-zero exit.
void MustRun(const std::vector<std::string>& argv);

// Polls `done` until it holds or `timeout` passes; for states no event announces.
bool WaitFor(const std::function<bool()>& done,
             std::chrono::milliseconds timeout = std::chrono::seconds(5));

// A network namespace made with `ip netns add`, deleted on destruction.
class Netns {
 public:
  explicit Netns(std::string name);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  const std::string& name() const { return name_; }
  int fd() const { return fd_.get(); }
  // `ip -n NAME args...`
  void Ip(const std::vector<std::string>& args) const;

 private:
  std::string name_;
  common::UniqueFd fd_;
};

// Joins two namespaces with a veth pair, gives each end its address ("192.0.2.1/24") and brings
// both up. Returns the device names (in `a`, in `b`).
std::pair<std::string, std::string> ConnectNamespaces(const Netns& a, const std::string& cidr_a,
                                                      const Netns& b, const std::string& cidr_b);

// A socket created in `netns` (the calling thread switches namespace for the socket() call only).
common::UniqueFd SocketIn(const Netns& netns, int family, int type);

sockaddr_storage MakeAddr(const std::string& ip, uint16_t port, socklen_t* len);
uint16_t LocalPort(int fd);

// Non-blocking connect from `source` to `dest`; returns the socket (connect in progress).
common::UniqueFd StartConnect(const Netns& netns, const std::string& source,
                              const std::string& dest, uint16_t port);
// Waits until a non-blocking connect finishes; true when it connected.
bool WaitConnected(int fd, std::chrono::milliseconds timeout);
// Sends one byte and reads one byte back within `timeout`.
bool Exchange(int fd, std::chrono::milliseconds timeout);

// True when nothing but our own test runner is a child of this process.
bool NoChildProcesses();

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_INTEGRATION_TEST_ENV_H_
