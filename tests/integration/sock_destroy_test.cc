// DestroyTcpSockets on real connections: a listener in a gate's cgroup (server namespace), clients
// in the other namespace. A reload that denies one client ends that client's connection at once
// (the reset gets out through the gate's egress program), and only that one.
#include "kernel/sock_destroy.h"

#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/socket_address.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernel/cgroup.h"
#include "policy/address.h"
#include "policy/compiler.h"
#include "tests/integration/engine_fixture.h"

namespace gatekeeper::testing {
namespace {

using common::SocketAddress;
using common::UniqueFd;
using std::chrono::milliseconds;

constexpr milliseconds kIo{5000};
// How fast the denied client must learn: a reset arrives in well under a millisecond, while a
// stalled connection would only fail after minutes of retransmissions.
constexpr milliseconds kResetDeadline{2000};

// The address part of a socket address, for policy::Evaluate.
policy::Address AddressOf(const SocketAddress& a) {
  policy::Address out;
  if (a.family() == AF_INET) {
    out.family = policy::Family::kIPv4;
    std::memcpy(out.bytes.data(), &reinterpret_cast<const sockaddr_in*>(a.get())->sin_addr, 4);
  } else {
    out.family = policy::Family::kIPv6;
    std::memcpy(out.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(a.get())->sin6_addr, 16);
  }
  return out;
}

std::string Ip(const SocketAddress& a) { return AddressOf(a).ToString(); }

// Waits for the connection's end and returns recv()'s errno (0 when it did not end in time or
// ended without an error).
int WaitForError(int fd, milliseconds deadline) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(deadline.count())) != 1) return 0;
  char b;
  return ::recv(fd, &b, 1, MSG_DONTWAIT) < 0 ? errno : 0;
}

class SockDestroyTest : public EngineFixture {
 protected:
  // sock_diag sees one network namespace, the caller's: run in the server's, on a throwaway
  // thread so the test's own thread stays where it is.
  absl::StatusOr<size_t> DestroyInServerNamespace(uint64_t cgroup_id,
                                                  const kernel::TcpConnectionFilter& filter) {
    absl::StatusOr<size_t> result = absl::InternalError("setns into the server namespace failed");
    std::thread t([&] {
      if (::setns(srv_->fd(), CLONE_NEWNET) != 0) return;
      result = kernel::DestroyTcpSockets(cgroup_id, filter);
    });
    t.join();
    return result;
  }

  // A connection from `source` that has carried a byte each way.
  ::testing::AssertionResult Connect(const std::string& source, const std::string& server,
                                     uint16_t port, UniqueFd& fd) {
    fd = StartConnect(*cli_, source, server, port);
    if (!fd || !WaitConnected(fd.get(), kIo) || !Exchange(fd.get(), kIo)) {
      return ::testing::AssertionFailure() << source << " could not connect to " << server;
    }
    return ::testing::AssertionSuccess();
  }
};

TEST_F(SockDestroyTest, ReloadThatDeniesAPeerEndsOnlyItsConnectionsAtOnce) {
  if (!ready_) return;
  const kernel::ScopeSpec spec = Spec("web.socket");
  const policy::CompiledPolicy both = Policy("192.0.2.2 192.0.2.3 2001:db8::2 2001:db8::3", "any");
  const policy::CompiledPolicy one = Policy("192.0.2.2 2001:db8::2", "any");
  auto scope = engine_->AttachScope(spec, both);
  ASSERT_TRUE(scope.ok()) << scope.status();
  auto cgroup = kernel::Cgroup::Open(spec.cgroup_path);
  ASSERT_TRUE(cgroup.ok()) << cgroup.status();

  // IPv4, IPv6, and IPv4 clients of a dual-stack listener (sockets report ::ffff:192.0.2.3).
  struct Variant {
    std::string listen, server, allowed, denied;
  };
  for (const Variant& v : {Variant{kServerV4, kServerV4, kAllowedV4, kDeniedV4},
                           Variant{kServerV6, kServerV6, kAllowedV6, kDeniedV6},
                           Variant{"::", kServerV4, kAllowedV4, kDeniedV4}}) {
    const std::string& server = v.server;
    const std::string& allowed = v.allowed;
    const std::string& denied = v.denied;
    const std::string& listen = v.listen;
    SCOPED_TRACE(absl::StrCat("listening on ", listen, ", clients of ", server));
    ASSERT_TRUE((*scope)->ReplacePolicy(both).ok());
    UniqueFd listener = ListenIn(spec.cgroup_path, listen, SOCK_STREAM);
    ASSERT_TRUE(listener.valid());
    EchoServer echo(listener.get());
    const uint16_t port = LocalPort(listener.get());
    UniqueFd keeper;
    UniqueFd victim;
    ASSERT_TRUE(Connect(allowed, server, port, keeper));
    ASSERT_TRUE(Connect(denied, server, port, victim));

    // The reload: the same filter the daemon applies, the new policy's verdict on each peer.
    ASSERT_TRUE((*scope)->ReplacePolicy(one).ok());
    const kernel::ScopeStats before = Stats(*scope);
    std::vector<std::string> peers;
    auto destroyed = DestroyInServerNamespace(
        cgroup->id(), [&](const SocketAddress& local, const SocketAddress& peer) {
          EXPECT_EQ(Ip(local), server);
          EXPECT_EQ(local.port(), port);
          peers.push_back(Ip(peer));
          return policy::Evaluate(one, AddressOf(peer)).action == policy::Action::kDeny;
        });
    ASSERT_TRUE(destroyed.ok()) << destroyed.status();
    EXPECT_EQ(*destroyed, 1u);
    // Mapped peers come as IPv4, as the programs judge them.
    EXPECT_THAT(peers, ::testing::UnorderedElementsAre(allowed, denied));

    // The reset reached the client: it got out through the gate's egress program.
    EXPECT_EQ(WaitForError(victim.get(), kResetDeadline), ECONNRESET);
    const kernel::ScopeStats after = Stats(*scope);
    EXPECT_EQ(after.rst_passed.packets - before.rst_passed.packets, 1u);

    EXPECT_TRUE(Exchange(keeper.get(), kIo));
    EXPECT_EQ(echo.accepted(), 2);
  }
}

TEST_F(SockDestroyTest, NothingChosenNothingDestroyedAndOnlyTheCgroupsConnectionsSeen) {
  if (!ready_) return;
  const kernel::ScopeSpec spec = Spec("web.socket");
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.0/24 2001:db8::/32", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();
  auto cgroup = kernel::Cgroup::Open(spec.cgroup_path);
  ASSERT_TRUE(cgroup.ok()) << cgroup.status();

  UniqueFd listener = ListenIn(spec.cgroup_path, kServerV4, SOCK_STREAM);
  UniqueFd listener6 = ListenIn(spec.cgroup_path, kServerV6, SOCK_STREAM);
  // A listener of another cgroup in the same namespace: its connections are none of ours.
  UniqueFd other = ListenIn(Spec("other.socket").cgroup_path, kServerV4, SOCK_STREAM);
  ASSERT_TRUE(listener.valid() && listener6.valid() && other.valid());
  EchoServer echo(listener.get());
  EchoServer echo6(listener6.get());
  EchoServer echo_other(other.get());
  UniqueFd a;
  UniqueFd b;
  UniqueFd c;
  ASSERT_TRUE(Connect(kAllowedV4, kServerV4, LocalPort(listener.get()), a));
  ASSERT_TRUE(Connect(kDeniedV6, kServerV6, LocalPort(listener6.get()), b));
  ASSERT_TRUE(Connect(kDeniedV4, kServerV4, LocalPort(other.get()), c));

  std::vector<std::string> peers;
  auto destroyed =
      DestroyInServerNamespace(cgroup->id(), [&](const SocketAddress&, const SocketAddress& peer) {
        peers.push_back(peer.ToString());
        return false;
      });
  ASSERT_TRUE(destroyed.ok()) << destroyed.status();
  EXPECT_EQ(*destroyed, 0u);
  // The two accepted connections; not the listeners, not the other cgroup's connection.
  EXPECT_THAT(peers, ::testing::UnorderedElementsAre(
                         absl::StrCat(kAllowedV4, ":", LocalPort(a.get())),
                         absl::StrCat("[", kDeniedV6, "]:", LocalPort(b.get()))));
  for (int fd : {a.get(), b.get(), c.get()}) EXPECT_TRUE(Exchange(fd, kIo));
}

TEST_F(SockDestroyTest, EmptyCgroupDestroysNothing) {
  if (!ready_) return;
  auto cgroup = kernel::Cgroup::CreateOrOpen(Spec("empty.socket").cgroup_path);
  ASSERT_TRUE(cgroup.ok()) << cgroup.status();
  int calls = 0;
  auto destroyed =
      DestroyInServerNamespace(cgroup->id(), [&](const SocketAddress&, const SocketAddress&) {
        ++calls;
        return true;
      });
  ASSERT_TRUE(destroyed.ok()) << destroyed.status();
  EXPECT_EQ(*destroyed, 0u);
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace gatekeeper::testing
