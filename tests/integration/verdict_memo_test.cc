// The per-socket verdict memo (gate.bpf.c, verdict_memos): a socket's packets skip the trie
// while they name the peer it last saw, and a policy swap voids every memo at once. Each test
// fails when the memo outlives a swap or answers for another address.
#include <bpf/bpf.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "gate_abi.h"
#include "gtest/gtest.h"
#include "kernel/socket_in_cgroup.h"
#include "tests/integration/engine_fixture.h"

namespace gatekeeper::testing {
namespace {

using common::UniqueFd;
using kernel::Direction;
using std::chrono::milliseconds;

constexpr milliseconds kIo{5000};

class VerdictMemoTest : public EngineFixture {
 protected:
  kernel::ScopeStats Stats() { return EngineFixture::Stats(scope_); }
  uint64_t Denied(Direction dir) { return Stats().denied[static_cast<int>(dir)].packets; }

  void Attach(const policy::CompiledPolicy& policy) {
    spec_ = Spec("memo.socket");
    spec_.memo_min_prefixes = 0;  // memoize even these small policies
    auto scope = engine_->AttachScope(spec_, policy);
    ASSERT_TRUE(scope.ok()) << scope.status();
    scope_ = *scope;
  }
  void Swap(const policy::CompiledPolicy& policy) {
    const absl::Status s = scope_->ReplacePolicy(policy);
    ASSERT_TRUE(s.ok()) << s;
  }

  // A UDP socket in the client namespace bound to `source`.
  UniqueFd ClientUdp(const std::string& source) {
    socklen_t len;
    sockaddr_storage addr = MakeAddr(source, 0, &len);
    UniqueFd fd = SocketIn(*cli_, addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK);
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len), 0) << strerror(errno);
    return fd;
  }

  static bool SendTo(int fd, const std::string& ip, uint16_t port, char byte) {
    socklen_t len;
    sockaddr_storage to = MakeAddr(ip, port, &len);
    return ::sendto(fd, &byte, 1, 0, reinterpret_cast<sockaddr*>(&to), len) == 1;
  }

  // The next datagram on `fd` within kIo, or -1.
  static int Receive(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(kIo.count())) != 1) return -1;
    char byte;
    return ::recv(fd, &byte, 1, MSG_DONTWAIT) == 1 ? byte : -1;
  }

  static bool NothingQueued(int fd) {
    char byte;
    return ::recv(fd, &byte, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN;
  }

  kernel::ScopeSpec spec_;
  kernel::Scope* scope_ = nullptr;
};

TEST_F(VerdictMemoTest, ConnectedUdpSocketIsJudgedByTheNewPolicyAtItsNextDatagram) {
  if (!ready_) return;
  const policy::CompiledPolicy allow_peer = Policy("192.0.2.2 2001:db8::2", "any");
  const policy::CompiledPolicy deny_peer = Policy("", "192.0.2.2 2001:db8::2");
  Attach(allow_peer);

  for (const auto& [server, peer] :
       {std::tuple{kServerV4, kAllowedV4}, std::tuple{kServerV6, kAllowedV6}}) {
    SCOPED_TRACE(server);
    Swap(allow_peer);
    UniqueFd srv = ListenIn(spec_.cgroup_path, server, SOCK_DGRAM);
    ASSERT_TRUE(srv.valid());
    const uint16_t srv_port = LocalPort(srv.get());
    UniqueFd cli = ClientUdp(peer);
    socklen_t len;
    sockaddr_storage cli_addr = MakeAddr(peer, LocalPort(cli.get()), &len);
    ASSERT_EQ(::connect(srv.get(), reinterpret_cast<sockaddr*>(&cli_addr), len), 0);

    // Several round trips: the socket's memo now says "allowed" for this peer.
    for (char c = 'a'; c < 'e'; ++c) {
      ASSERT_TRUE(SendTo(cli.get(), server, srv_port, c));
      ASSERT_EQ(Receive(srv.get()), c);
      ASSERT_EQ(::send(srv.get(), &c, 1, 0), 1);
      ASSERT_EQ(Receive(cli.get()), c);
    }

    Swap(deny_peer);
    const uint64_t in_before = Denied(Direction::kIngress);
    ASSERT_TRUE(SendTo(cli.get(), server, srv_port, 'x'));
    ASSERT_TRUE(WaitFor([&] { return Denied(Direction::kIngress) == in_before + 1; }));
    EXPECT_TRUE(NothingQueued(srv.get()));
    const uint64_t out_before = Denied(Direction::kEgress);
    const char y = 'y';
    EXPECT_EQ(::send(srv.get(), &y, 1, 0), -1);
    EXPECT_EQ(errno, EPERM);  // a cgroup egress drop
    EXPECT_EQ(Denied(Direction::kEgress), out_before + 1);

    // And back: the memo of the denial must not outlive this swap either.
    Swap(allow_peer);
    ASSERT_TRUE(SendTo(cli.get(), server, srv_port, 'z'));
    EXPECT_EQ(Receive(srv.get()), 'z');
    EXPECT_EQ(::send(srv.get(), &y, 1, 0), 1);
    EXPECT_EQ(Receive(cli.get()), 'y');
  }
}

TEST_F(VerdictMemoTest, OneSocketTakingTurnsWithTwoPeersJudgesEachByItsAddress) {
  if (!ready_) return;
  Attach(Policy("192.0.2.2 2001:db8::2", "any"));

  for (const auto& [server, allowed, denied] : {std::tuple{kServerV4, kAllowedV4, kDeniedV4},
                                                std::tuple{kServerV6, kAllowedV6, kDeniedV6}}) {
    SCOPED_TRACE(server);
    UniqueFd srv = ListenIn(spec_.cgroup_path, server, SOCK_DGRAM);
    ASSERT_TRUE(srv.valid());
    const uint16_t srv_port = LocalPort(srv.get());
    UniqueFd good = ClientUdp(allowed);
    UniqueFd bad = ClientUdp(denied);
    const uint16_t good_port = LocalPort(good.get());
    const uint16_t bad_port = LocalPort(bad.get());

    const kernel::ScopeStats before = Stats();
    constexpr int kTurns = 20;
    for (int i = 0; i < kTurns; ++i) {
      const char c = static_cast<char>('A' + i);
      // The denied peer right after the allowed one, on the socket whose memo now names the
      // allowed peer: it must be judged by its own address.
      ASSERT_TRUE(SendTo(good.get(), server, srv_port, c));
      ASSERT_EQ(Receive(srv.get()), c) << "turn " << i;
      const uint64_t denied_in = Denied(Direction::kIngress);
      ASSERT_TRUE(SendTo(bad.get(), server, srv_port, c));
      ASSERT_TRUE(WaitFor([&] { return Denied(Direction::kIngress) == denied_in + 1; }))
          << "turn " << i;
      EXPECT_TRUE(NothingQueued(srv.get())) << "turn " << i;

      // Egress, both orders.
      EXPECT_TRUE(SendTo(srv.get(), allowed, good_port, c)) << "turn " << i;
      EXPECT_FALSE(SendTo(srv.get(), denied, bad_port, c)) << "turn " << i;
      EXPECT_EQ(errno, EPERM);
      EXPECT_TRUE(SendTo(srv.get(), allowed, good_port, c)) << "turn " << i;
      EXPECT_EQ(Receive(good.get()), c);
      EXPECT_EQ(Receive(good.get()), c);
    }
    const kernel::ScopeStats after = Stats();
    EXPECT_EQ(after.denied[0].packets - before.denied[0].packets, kTurns);
    EXPECT_EQ(after.denied[1].packets - before.denied[1].packets, kTurns);
    EXPECT_EQ(after.allowed[0].packets - before.allowed[0].packets, kTurns);
    EXPECT_EQ(after.allowed[1].packets - before.allowed[1].packets, 2 * kTurns);
    EXPECT_TRUE(NothingQueued(bad.get()));
  }
}

TEST_F(VerdictMemoTest, EstablishedTcpConnectionIsCutOffByASwapAlone) {
  if (!ready_) return;
  const policy::CompiledPolicy allow_peer = Policy("192.0.2.2", "any");
  Attach(allow_peer);
  UniqueFd listener = ListenIn(spec_.cgroup_path, kServerV4, SOCK_STREAM);
  ASSERT_TRUE(listener.valid());
  EchoServer echo(listener.get());
  UniqueFd conn = StartConnect(*cli_, kAllowedV4, kServerV4, LocalPort(listener.get()));
  ASSERT_TRUE(WaitConnected(conn.get(), kIo));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Exchange(conn.get(), kIo));

  // No SOCK_DESTROY here (the daemon adds that): only the programs' verdicts change.
  Swap(Policy("", "192.0.2.2"));
  const uint64_t in_before = Denied(Direction::kIngress);
  const char c = 'q';
  ASSERT_EQ(::send(conn.get(), &c, 1, 0), 1);
  ASSERT_TRUE(WaitFor([&] { return Denied(Direction::kIngress) > in_before; }));
  pollfd p{conn.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 300), 0) << "the server echoed a byte the new policy denies";
}

TEST_F(VerdictMemoTest, OnlyDeepTriesTurnMemosOn) {
  if (!ready_) return;
  kernel::ScopeSpec spec = Spec("deep.socket");  // the default threshold
  std::string many;
  for (size_t i = 0; i < spec.memo_min_prefixes; ++i) {
    absl::StrAppend(&many, "2001:db8::", absl::Hex(i), " ");
  }
  ASSERT_GE(spec.memo_min_prefixes, 2u);
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.2", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();
  const std::string pin =
      absl::StrCat(bpffs_dir_, "/v", GK_ABI_VERSION, "/scopes/deep_2esocket/config");
  auto memo_flag = [&] {
    UniqueFd config(bpf_obj_get(pin.c_str()));
    EXPECT_TRUE(config.valid()) << pin << ": " << strerror(errno);
    gk_config cfg{};
    const __u32 zero = 0;
    EXPECT_EQ(bpf_map_lookup_elem(config.get(), &zero, &cfg), 0);
    return (cfg.flags & GK_CFG_MEMO) != 0;
  };
  EXPECT_FALSE(memo_flag());
  ASSERT_TRUE((*scope)->ReplacePolicy(Policy(many, "any")).ok());
  EXPECT_TRUE(memo_flag());
  ASSERT_TRUE((*scope)->ReplacePolicy(Policy("192.0.2.2", "any")).ok());
  EXPECT_FALSE(memo_flag());
}

}  // namespace
}  // namespace gatekeeper::testing
