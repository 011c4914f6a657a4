// Accept=yes building blocks against real connections: the connection as fd 3 with
// LISTEN_FDNAMES=connection and REMOTE_ADDR/REMOTE_PORT, the per-source limit keyed by the peer,
// and a crashed service whose waiting clients are served by the next instance.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "activation/connection_limiter.h"
#include "activation/environment.h"
#include "gmock/gmock.h"
#include "tests/integration/activation/activation_fixture.h"
#include "tests/integration/test_env.h"

namespace gatekeeper::testing {
namespace {

using activation::Child;
using activation::ConnectionLimiter;
using activation::ExitStatus;
using activation::SpawnRequest;
using common::UniqueFd;

UniqueFd AcceptOne(int listener, sockaddr_storage* peer = nullptr) {
  if (!ActivationTest::WaitReadable(listener)) return {};
  sockaddr_storage ignored;
  socklen_t length = sizeof(sockaddr_storage);
  return UniqueFd(accept4(listener, reinterpret_cast<sockaddr*>(peer ? peer : &ignored), &length,
                          SOCK_CLOEXEC));
}

// What the daemon does per accepted connection: fd 3, its name, the peer in the environment.
SpawnRequest ForConnection(SpawnRequest r, int connection) {
  r.fds = {{connection, std::string(activation::kConnectionFdName)}};
  for (std::string& v : activation::RemoteEnvironmentOf(connection)) {
    r.environment.push_back(std::move(v));
  }
  return r;
}

TEST_F(ActivationTest, ConnectionOfDualStackListenerGetsPlainIpv4RemoteAddr) {
  // Bound to the mapped loopback address: IPv4 clients only, and only from this host.
  UniqueFd listener = Listen("::ffff:127.0.0.1", SOCK_STREAM, /*v6only=*/false);
  UniqueFd client = Connect("127.0.0.1", LocalPort(listener.get()));
  ASSERT_TRUE(client.valid());
  sockaddr_storage peer{};
  UniqueFd connection = AcceptOne(listener.get(), &peer);
  ASSERT_TRUE(connection.valid());
  ASSERT_EQ(peer.ss_family, AF_INET6);  // the kernel reports ::ffff:127.0.0.1

  Child* child = Start(ForConnection(Request({"--print-env"}), connection.get()));
  ASSERT_NE(child, nullptr);
  connection.reset();  // the service holds the only copy now
  std::map<std::string, std::string> env = ReadPrintedEnv();
  EXPECT_EQ(env["LISTEN_FDNAMES"], "connection");
  EXPECT_EQ(env["LISTEN_FDS"], "1");
  EXPECT_EQ(env["REMOTE_ADDR"], "127.0.0.1");
  EXPECT_EQ(env["REMOTE_PORT"], absl::StrCat(LocalPort(client.get())));
  EXPECT_EQ(AskOn(client.get()), absl::StrCat("connection ", child->pid(), " 127.0.0.1"));

  // The peer closes: the per-connection service is done.
  client.reset();
  ASSERT_TRUE(WaitReadable(child->pidfd()));
  absl::StatusOr<ExitStatus> status = child->Reap();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, ExitStatus::Exited(0));
}

TEST_F(ActivationTest, ConnectionFromIpv6Peer) {
  UniqueFd listener = Listen("::1");
  UniqueFd client = Connect("::1", LocalPort(listener.get()));
  ASSERT_TRUE(client.valid());
  UniqueFd connection = AcceptOne(listener.get());
  ASSERT_TRUE(connection.valid());
  Child* child = Start(ForConnection(Request({"--print-env"}), connection.get()));
  ASSERT_NE(child, nullptr);
  connection.reset();
  std::map<std::string, std::string> env = ReadPrintedEnv();
  EXPECT_EQ(env["REMOTE_ADDR"], "::1");
  EXPECT_EQ(AskOn(client.get()), absl::StrCat("connection ", child->pid(), " ::1"));
}

TEST_F(ActivationTest, PerSourceLimitRefusesTheExtraConnectionUntilOneEnds) {
  UniqueFd listener = Listen("127.0.0.1");
  const uint16_t port = LocalPort(listener.get());
  ConnectionLimiter limiter({.max_connections = 64, .max_per_source = 1});

  UniqueFd first_client = Connect("127.0.0.1", port);
  UniqueFd first = AcceptOne(listener.get());
  ASSERT_TRUE(first.valid());
  absl::StatusOr<std::string> key = activation::SourceKeyOf(first.get());
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "127.0.0.1");
  ASSERT_EQ(limiter.TryAcquire(*key), ConnectionLimiter::Verdict::kAccept);
  Child* child = Start(ForConnection(Request({}), first.get()));
  ASSERT_NE(child, nullptr);
  first.reset();

  // Same source again: refused, and the daemon closes it, so the client sees the end at once.
  UniqueFd second_client = Connect("127.0.0.1", port);
  UniqueFd second = AcceptOne(listener.get());
  ASSERT_TRUE(second.valid());
  EXPECT_EQ(limiter.TryAcquire(*activation::SourceKeyOf(second.get())),
            ConnectionLimiter::Verdict::kTooManyFromSource);
  second.reset();
  EXPECT_EQ(AskOn(second_client.get()), "");

  EXPECT_EQ(AskOn(first_client.get()), absl::StrCat("connection ", child->pid(), " 127.0.0.1"));
  first_client.reset();
  ASSERT_TRUE(WaitReadable(child->pidfd()));
  ASSERT_TRUE(child->Reap().ok());
  EXPECT_TRUE(limiter.Release(*key));

  UniqueFd third_client = Connect("127.0.0.1", port);
  UniqueFd third = AcceptOne(listener.get());
  ASSERT_TRUE(third.valid());
  EXPECT_EQ(limiter.TryAcquire(*activation::SourceKeyOf(third.get())),
            ConnectionLimiter::Verdict::kAccept);
}

TEST_F(ActivationTest, ClientWaitingInTheBacklogIsServedByTheNextInstance) {
  UniqueFd listener = Listen("127.0.0.1");
  const uint16_t port = LocalPort(listener.get());
  SpawnRequest r = Request({"--crash-after-first"});
  r.fds = {{listener.get(), "web"}};
  Child* first = Start(r);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Ask("127.0.0.1", port), absl::StrCat("web ", first->pid()));

  // The service is going down; the listener stays open (we hold it), so this client queues.
  UniqueFd waiting = Connect("127.0.0.1", port);
  ASSERT_TRUE(waiting.valid());
  ASSERT_TRUE(WaitReadable(first->pidfd()));
  absl::StatusOr<ExitStatus> status = first->Reap();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, ExitStatus::Exited(1));

  Child* second = Start(r);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(AskOn(waiting.get()), absl::StrCat("web ", second->pid()));
}

}  // namespace
}  // namespace gatekeeper::testing
