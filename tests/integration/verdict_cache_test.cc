// The allow cache (gate.bpf.c, allow_cache_v4/v6): a peer the policy allowed skips the trie on
// its later packets, and a policy swap voids every cached verdict at once. Each test fails when
// a cached verdict outlives a swap or answers for another address.
#include <arpa/inet.h>
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

class VerdictCacheTest : public EngineFixture {
 protected:
  kernel::ScopeStats Stats() { return EngineFixture::Stats(scope_); }
  uint64_t Denied(Direction dir) { return Stats().denied[static_cast<int>(dir)].packets; }

  void Attach(const policy::CompiledPolicy& policy) {
    spec_ = Spec("cache.socket");
    spec_.allow_cache_min_prefixes = 0;  // cache even for these small policies
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

TEST_F(VerdictCacheTest, ConnectedUdpSocketIsJudgedByTheNewPolicyAtItsNextDatagram) {
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

    // Several round trips: the cache now says "allowed" for this peer.
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

    // And back: the denial must not outlive this swap either.
    Swap(allow_peer);
    ASSERT_TRUE(SendTo(cli.get(), server, srv_port, 'z'));
    EXPECT_EQ(Receive(srv.get()), 'z');
    EXPECT_EQ(::send(srv.get(), &y, 1, 0), 1);
    EXPECT_EQ(Receive(cli.get()), 'y');
  }
}

TEST_F(VerdictCacheTest, OneSocketTakingTurnsWithTwoPeersJudgesEachByItsAddress) {
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
      // The denied peer right after the allowed one, on the same socket, while the cache holds
      // the allowed peer: it must be judged by its own address.
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

TEST_F(VerdictCacheTest, EstablishedTcpConnectionIsCutOffByASwapAlone) {
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

// The pinned outer map of a family's cache, and what its current inner map holds.
class CacheView {
 public:
  CacheView(const std::string& pin_dir, const char* family) {
    const std::string pin = absl::StrCat(pin_dir, "/allow_cache_", family);
    outer_.reset(bpf_obj_get(pin.c_str()));
    EXPECT_TRUE(outer_.valid()) << pin << ": " << strerror(errno);
  }
  // The inner map's id, 0 when the slot is empty (cache off).
  uint32_t InnerId() const {
    const __u32 zero = 0;
    __u32 id = 0;
    return bpf_map_lookup_elem(outer_.get(), &zero, &id) == 0 ? id : 0;
  }
  // The generation cached for the IPv4 address `ip`, 0 when it has no entry.
  uint64_t CachedV4(const std::string& ip) const {
    UniqueFd inner(bpf_map_get_fd_by_id(InnerId()));
    if (!inner.valid()) return 0;
    in_addr key{};
    EXPECT_EQ(::inet_pton(AF_INET, ip.c_str(), &key), 1);
    uint64_t generation = 0;
    return bpf_map_lookup_elem(inner.get(), &key, &generation) == 0 ? generation : 0;
  }
  // Writes an entry as a packet would have.
  void PutV4(const std::string& ip, uint64_t generation) const {
    UniqueFd inner(bpf_map_get_fd_by_id(InnerId()));
    ASSERT_TRUE(inner.valid()) << strerror(errno);
    in_addr key{};
    ASSERT_EQ(::inet_pton(AF_INET, ip.c_str(), &key), 1);
    ASSERT_EQ(bpf_map_update_elem(inner.get(), &key, &generation, BPF_ANY), 0) << strerror(errno);
  }
  size_t Entries() const {
    UniqueFd inner(bpf_map_get_fd_by_id(InnerId()));
    if (!inner.valid()) return 0;
    size_t n = 0;
    in_addr key{};
    in_addr next{};
    for (const void* prev = nullptr; bpf_map_get_next_key(inner.get(), prev, &next) == 0;
         prev = &key, ++n) {
      key = next;
    }
    return n;
  }

 private:
  UniqueFd outer_;
};

gk_config ReadConfig(const std::string& pin_dir) {
  const std::string pin = absl::StrCat(pin_dir, "/config");
  UniqueFd config(bpf_obj_get(pin.c_str()));
  EXPECT_TRUE(config.valid()) << pin << ": " << strerror(errno);
  gk_config cfg{};
  const __u32 zero = 0;
  EXPECT_EQ(bpf_map_lookup_elem(config.get(), &zero, &cfg), 0);
  return cfg;
}

TEST_F(VerdictCacheTest, CachesOnlyAllowedPeersAndEachSwapStartsEmpty) {
  if (!ready_) return;
  const policy::CompiledPolicy policy = Policy("192.0.2.2", "any");
  Attach(policy);
  const std::string pins = absl::StrCat(bpffs_dir_, "/v", GK_ABI_VERSION, "/scopes/cache_2esocket");
  const CacheView cache(pins, "v4");
  UniqueFd srv = ListenIn(spec_.cgroup_path, kServerV4, SOCK_DGRAM);
  ASSERT_TRUE(srv.valid());
  const uint16_t srv_port = LocalPort(srv.get());
  UniqueFd good = ClientUdp(kAllowedV4);
  UniqueFd bad = ClientUdp(kDeniedV4);

  const uint32_t first_inner = cache.InnerId();
  ASSERT_NE(first_inner, 0u);
  EXPECT_EQ(cache.Entries(), 0u);
  ASSERT_TRUE(SendTo(good.get(), kServerV4, srv_port, 'a'));
  ASSERT_EQ(Receive(srv.get()), 'a');
  const uint64_t denied_in = Denied(Direction::kIngress);
  ASSERT_TRUE(SendTo(bad.get(), kServerV4, srv_port, 'b'));
  ASSERT_TRUE(WaitFor([&] { return Denied(Direction::kIngress) == denied_in + 1; }));
  EXPECT_EQ(cache.CachedV4(kAllowedV4), ReadConfig(pins).policy_generation);
  EXPECT_EQ(cache.CachedV4(kDeniedV4), 0u) << "a denial was cached";
  EXPECT_EQ(cache.Entries(), 1u);

  // The same policy again: a new generation and a fresh, empty cache (departed peers go).
  Swap(policy);
  EXPECT_NE(cache.InnerId(), first_inner);
  EXPECT_EQ(cache.Entries(), 0u);
  ASSERT_TRUE(SendTo(good.get(), kServerV4, srv_port, 'c'));
  ASSERT_EQ(Receive(srv.get()), 'c');
  EXPECT_EQ(cache.CachedV4(kAllowedV4), ReadConfig(pins).policy_generation);
}

// A packet that walked the old trie while userspace swapped may add the old policy's allow to the
// new cache. Such an entry must never count: the generation it carries is not the current one.
TEST_F(VerdictCacheTest, AnEntryOfAnotherGenerationNeverAllows) {
  if (!ready_) return;
  Attach(Policy("192.0.2.2", "any"));
  const std::string pins = absl::StrCat(bpffs_dir_, "/v", GK_ABI_VERSION, "/scopes/cache_2esocket");
  const CacheView cache(pins, "v4");
  const uint64_t current = ReadConfig(pins).policy_generation;
  ASSERT_NE(current, 0u);
  cache.PutV4(kDeniedV4, current - 1);
  UniqueFd srv = ListenIn(spec_.cgroup_path, kServerV4, SOCK_DGRAM);
  ASSERT_TRUE(srv.valid());
  UniqueFd bad = ClientUdp(kDeniedV4);
  const uint64_t denied_in = Denied(Direction::kIngress);
  ASSERT_TRUE(SendTo(bad.get(), kServerV4, LocalPort(srv.get()), 'x'));
  ASSERT_TRUE(WaitFor([&] { return Denied(Direction::kIngress) == denied_in + 1; }));
  EXPECT_TRUE(NothingQueued(srv.get()));
  EXPECT_EQ(cache.CachedV4(kDeniedV4), current - 1) << "a denial was written to the cache";
}

TEST_F(VerdictCacheTest, OnlyDeepTriesTurnTheCacheOn) {
  if (!ready_) return;
  kernel::ScopeSpec spec = Spec("deep.socket");  // the default threshold
  std::string many;
  for (size_t i = 0; i < spec.allow_cache_min_prefixes; ++i) {
    absl::StrAppend(&many, "2001:db8::", absl::Hex(i), " ");
  }
  ASSERT_GE(spec.allow_cache_min_prefixes, 2u);
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.2", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();
  const std::string pins = absl::StrCat(bpffs_dir_, "/v", GK_ABI_VERSION, "/scopes/deep_2esocket");
  const CacheView v4(pins, "v4");
  const CacheView v6(pins, "v6");
  auto cache_on = [&] { return (ReadConfig(pins).flags & GK_CFG_ALLOW_CACHE) != 0; };
  EXPECT_FALSE(cache_on());
  EXPECT_EQ(v4.InnerId(), 0u);
  ASSERT_TRUE((*scope)->ReplacePolicy(Policy(many, "any")).ok());
  EXPECT_TRUE(cache_on());
  EXPECT_EQ(v4.InnerId(), 0u) << "one IPv4 prefix: a walk is cheaper than the cache";
  EXPECT_NE(v6.InnerId(), 0u);
  ASSERT_TRUE((*scope)->ReplacePolicy(Policy("192.0.2.2", "any")).ok());
  EXPECT_FALSE(cache_on());
  EXPECT_EQ(v4.InnerId(), 0u) << "a cache that is off still holds memory";
  EXPECT_EQ(v6.InnerId(), 0u);
}

}  // namespace
}  // namespace gatekeeper::testing
