// The engine on real traffic: two network namespaces joined by veth, listeners made inside scope
// cgroups, clients in the other namespace.
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernel/cgroup.h"
#include "kernel/cgroup_programs.h"
#include "kernel/denial_events.h"
#include "kernel/socket_in_cgroup.h"
#include "tests/integration/engine_fixture.h"

namespace gatekeeper::testing {
namespace {

using common::UniqueFd;
using kernel::Direction;
using std::chrono::milliseconds;

constexpr milliseconds kIo{5000};

using EngineNetnsTest = EngineFixture;

TEST_F(EngineNetnsTest, AllowedPeerIsServedDeniedPeersSynIsDropped) {
  if (!ready_) return;
  const kernel::ScopeSpec spec = Spec("web.socket");
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.2 2001:db8::2", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();

  for (const auto& [server, allowed, denied] : {std::tuple{kServerV4, kAllowedV4, kDeniedV4},
                                                std::tuple{kServerV6, kAllowedV6, kDeniedV6}}) {
    SCOPED_TRACE(server);
    UniqueFd listener = ListenIn(spec.cgroup_path, server, SOCK_STREAM);
    ASSERT_TRUE(listener.valid());
    EchoServer echo(listener.get());
    const uint16_t port = LocalPort(listener.get());

    UniqueFd ok = StartConnect(*cli_, allowed, server, port);
    ASSERT_TRUE(WaitConnected(ok.get(), kIo));
    EXPECT_TRUE(Exchange(ok.get(), kIo));

    const kernel::ScopeStats before = Stats(*scope);
    UniqueFd bad = StartConnect(*cli_, denied, server, port);
    ASSERT_TRUE(bad.valid());
    // The drop is counted when the SYN arrives; after that the connect can only time out.
    ASSERT_TRUE(WaitDenied(*scope, before, Direction::kIngress, 1));
    EXPECT_FALSE(WaitConnected(bad.get(), milliseconds(1500)));
    EXPECT_EQ(echo.accepted(), 1);
  }
}

TEST_F(EngineNetnsTest, EgressToDeniedDestinationFails) {
  if (!ready_) return;
  const kernel::ScopeSpec spec = Spec("svc.service");
  auto scope = engine_->AttachScope(spec, Policy("", "192.0.2.3"));
  ASSERT_TRUE(scope.ok()) << scope.status();
  auto cgroup = kernel::Cgroup::Open(spec.cgroup_path);
  ASSERT_TRUE(cgroup.ok());

  kernel::SocketRequest req;
  req.family = AF_INET;
  req.type = SOCK_DGRAM;
  auto udp = kernel::CreateSocketInCgroup(cgroup->fd(), srv_->fd(), req);
  ASSERT_TRUE(udp.ok()) << udp.status();
  socklen_t len;
  sockaddr_storage denied = MakeAddr(kDeniedV4, 9, &len);
  sockaddr_storage allowed = MakeAddr(kAllowedV4, 9, &len);
  const kernel::ScopeStats before = Stats(*scope);
  // A cgroup egress drop reaches the sender as EPERM.
  EXPECT_EQ(::sendto(udp->get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&denied), len), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::sendto(udp->get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&allowed), len), 1);

  // TCP retransmits a dropped SYN instead of failing the connect, so it can only time out.
  req.type = SOCK_STREAM | SOCK_NONBLOCK;
  auto tcp = kernel::CreateSocketInCgroup(cgroup->fd(), srv_->fd(), req);
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_NE(::connect(tcp->get(), reinterpret_cast<sockaddr*>(&denied), len), 0);
  ASSERT_TRUE(WaitDenied(*scope, before, Direction::kEgress, 2));
  EXPECT_FALSE(WaitConnected(tcp->get(), milliseconds(500)));

  const kernel::ScopeStats after = Stats(*scope);
  EXPECT_EQ(after.denied[1].packets - before.denied[1].packets, 2u);
  EXPECT_EQ(after.allowed[1].packets - before.allowed[1].packets, 1u);
}

TEST_F(EngineNetnsTest, CountersAndEventsMatchWhatWasSent) {
  if (!ready_) return;
  kernel::ScopeSpec spec = Spec("dns.socket", 42);
  spec.events.burst = 3;
  spec.events.interval = absl::Hours(1);
  const policy::CompiledPolicy policy = Policy("192.0.2.2", "192.0.2.0/24");
  auto scope = engine_->AttachScope(spec, policy);
  ASSERT_TRUE(scope.ok()) << scope.status();
  std::vector<kernel::DenialEvent> events;
  auto reader = kernel::DenialEventReader::Create(
      engine_->events_fd(), [&](const kernel::DenialEvent& e) { events.push_back(e); });
  ASSERT_TRUE(reader.ok());

  UniqueFd server = ListenIn(spec.cgroup_path, kServerV4, SOCK_DGRAM);
  ASSERT_TRUE(server.valid());
  const uint16_t port = LocalPort(server.get());
  auto client_from = [&](const char* source) {
    UniqueFd fd = SocketIn(*cli_, AF_INET, SOCK_DGRAM);
    socklen_t len;
    sockaddr_storage src = MakeAddr(source, 0, &len);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), len), 0);
    return fd;
  };
  UniqueFd good = client_from(kAllowedV4);
  UniqueFd bad = client_from(kDeniedV4);
  socklen_t len;
  sockaddr_storage dst = MakeAddr(kServerV4, port, &len);
  const kernel::ScopeStats before = Stats(*scope);
  constexpr int kGood = 5, kBad = 7, kPayload = 100;
  const std::string payload(kPayload, 'p');
  for (int i = 0; i < kGood; ++i) {
    ASSERT_EQ(
        ::sendto(good.get(), payload.data(), kPayload, 0, reinterpret_cast<sockaddr*>(&dst), len),
        kPayload);
  }
  for (int i = 0; i < kBad; ++i) {
    ASSERT_EQ(
        ::sendto(bad.get(), payload.data(), kPayload, 0, reinterpret_cast<sockaddr*>(&dst), len),
        kPayload);
  }
  ASSERT_TRUE(WaitFor([&] {
    const kernel::ScopeStats s = Stats(*scope);
    return s.allowed[0].packets - before.allowed[0].packets >= kGood &&
           s.denied[0].packets - before.denied[0].packets >= kBad;
  }));
  const kernel::ScopeStats after = Stats(*scope);
  EXPECT_EQ(after.allowed[0].packets - before.allowed[0].packets, uint64_t{kGood});
  EXPECT_EQ(after.denied[0].packets - before.denied[0].packets, uint64_t{kBad});
  // skb->len at ingress: IPv4 header + UDP header + payload.
  EXPECT_EQ(after.allowed[0].bytes - before.allowed[0].bytes,
            uint64_t{kGood * (20 + 8 + kPayload)});
  EXPECT_EQ(after.denied[0].bytes - before.denied[0].bytes, uint64_t{kBad * (20 + 8 + kPayload)});

  // Exactly the allowed datagrams arrived.
  int received = 0;
  char buf[256];
  while (::recv(server.get(), buf, sizeof(buf), MSG_DONTWAIT) > 0) ++received;
  EXPECT_EQ(received, kGood);

  ASSERT_TRUE(reader->Drain().ok());
  ASSERT_EQ(events.size(), 3u);  // the burst; the other four are counted as suppressed
  EXPECT_EQ(after.events_sent, 3u);
  EXPECT_EQ(after.events_suppressed, uint64_t{kBad - 3});
  for (const kernel::DenialEvent& e : events) {
    EXPECT_EQ(e.scope_id, 42u);
    EXPECT_EQ(e.direction, Direction::kIngress);
    EXPECT_EQ(e.protocol, IPPROTO_UDP);
    EXPECT_EQ(e.remote.ToString(), kDeniedV4);
    EXPECT_EQ(e.remote_port, LocalPort(bad.get()));
    EXPECT_EQ(e.local_port, port);
    const policy::Rule* rule = policy.FindRule(e.rule_id);
    ASSERT_NE(rule, nullptr);
    EXPECT_EQ(rule->entry->token, "192.0.2.0/24");
  }
}

TEST_F(EngineNetnsTest, PolicySwapsLoseNoAllowedConnection) {
  if (!ready_) return;
  // Filler prefixes make each swap load real tries.
  std::string filler;
  for (int i = 0; i < 256; ++i) absl::StrAppend(&filler, "198.51.100.", i, " 203.0.113.", i, " ");
  const policy::CompiledPolicy allow_b = Policy("192.0.2.2 192.0.2.3", "any " + filler);
  const policy::CompiledPolicy deny_b = Policy("192.0.2.2", "any " + filler);
  const kernel::ScopeSpec spec = Spec("swap.socket");
  auto scope = engine_->AttachScope(spec, allow_b);
  ASSERT_TRUE(scope.ok()) << scope.status();
  UniqueFd listener = ListenIn(spec.cgroup_path, kServerV4, SOCK_STREAM);
  ASSERT_TRUE(listener.valid());
  EchoServer echo(listener.get());
  const uint16_t port = LocalPort(listener.get());

  std::atomic<bool> stop{false};
  std::atomic<int> done{0}, failed{0};
  std::thread client([&] {
    // Bounded: at most 100k connections, and it stops when the swaps are over.
    for (int i = 0; i < 100000 && !stop.load(); ++i) {
      UniqueFd fd = StartConnect(*cli_, kAllowedV4, kServerV4, port);
      if (!WaitConnected(fd.get(), kIo) || !Exchange(fd.get(), kIo)) {
        ++failed;
      }
      ++done;
    }
  });
  // Stops and joins the client however the test leaves this scope (a failed ASSERT included).
  auto join = absl::MakeCleanup([&] {
    stop = true;
    client.join();
  });

  constexpr int kSwaps = 50;
  for (int i = 1; i <= kSwaps; ++i) {
    const bool deny = i % 2 == 1;
    ASSERT_TRUE((*scope)->ReplacePolicy(deny ? deny_b : allow_b).ok());
    const kernel::ScopeStats before = Stats(*scope);
    UniqueFd b = StartConnect(*cli_, kDeniedV4, kServerV4, port);
    ASSERT_TRUE(b.valid());
    if (deny) {
      // Refused right after its swap: the very first SYN is dropped.
      ASSERT_TRUE(WaitDenied(*scope, before, Direction::kIngress, 1)) << "swap " << i;
      pollfd p{b.get(), POLLOUT, 0};
      EXPECT_EQ(::poll(&p, 1, 0), 0) << "swap " << i;
    } else {
      ASSERT_TRUE(WaitConnected(b.get(), kIo)) << "swap " << i;
    }
    // Interleave: every policy serves at least one full connection of the allowed client.
    const int seen = done.load();
    ASSERT_TRUE(WaitFor([&] { return done.load() > seen + 1; })) << "swap " << i;
  }
  std::move(join).Invoke();
  EXPECT_EQ(failed.load(), 0) << "of " << done.load() << " connections";
  EXPECT_GT(done.load(), kSwaps);
}

TEST_F(EngineNetnsTest, GateAllowOpensWhatTheHostDenies) {
  if (!ready_) return;
  // The test's cgroup subtree plays the host: its scope denies 192.0.2.0/24 for every socket
  // outside <root>/gates; the gate's program carries host + gate lists merged.
  policy::AccessLists host_lists, gate_lists;
  ASSERT_TRUE(host_lists.deny.Assign("192.0.2.0/24", {.file = "gatekeeper.conf", .line = 3}).ok());
  ASSERT_TRUE(gate_lists.allow.Assign("192.0.2.2", {.file = "web.gate", .line = 5}).ok());
  const policy::AccessLists* merged[] = {&host_lists, &gate_lists};

  kernel::ScopeSpec host;
  host.name = "host";
  host.id = 1;
  host.cgroup_path = cgroup_root_;
  host.host = true;
  host.gates_cgroup_path = absl::StrCat(cgroup_root_, "/gates");
  auto host_scope = engine_->AttachScope(host, policy::Compile(host_lists));
  ASSERT_TRUE(host_scope.ok()) << host_scope.status();

  kernel::ScopeSpec gate = Spec("gates/web.socket", 2);
  gate.name = "web.socket";
  auto gate_scope = engine_->AttachScope(gate, policy::Compile(merged));
  ASSERT_TRUE(gate_scope.ok()) << gate_scope.status();

  UniqueFd in_gate = ListenIn(gate.cgroup_path, kServerV4, SOCK_STREAM);
  UniqueFd outside = ListenIn(absl::StrCat(cgroup_root_, "/other"), kServerV4, SOCK_STREAM);
  ASSERT_TRUE(in_gate.valid() && outside.valid());
  EchoServer echo_gate(in_gate.get());
  EchoServer echo_outside(outside.get());

  UniqueFd ok = StartConnect(*cli_, kAllowedV4, kServerV4, LocalPort(in_gate.get()));
  ASSERT_TRUE(WaitConnected(ok.get(), kIo));
  EXPECT_TRUE(Exchange(ok.get(), kIo));
  const kernel::ScopeStats host_stats = Stats(*host_scope);
  EXPECT_GE(host_stats.delegated[0].packets, 2u);  // SYN, the byte, ACKs: counted, not judged
  EXPECT_EQ(host_stats.denied[0].packets, 0u);

  UniqueFd blocked = StartConnect(*cli_, kAllowedV4, kServerV4, LocalPort(outside.get()));
  ASSERT_TRUE(WaitDenied(*host_scope, host_stats, Direction::kIngress, 1));
  EXPECT_FALSE(WaitConnected(blocked.get(), milliseconds(1500)));
  EXPECT_EQ(echo_outside.accepted(), 0);
}

TEST_F(EngineNetnsTest, PinsKeepFilteringAfterTheEngineIsGoneAndAreAdopted) {
  if (!ready_) return;
  const kernel::ScopeSpec spec = Spec("keep.socket");
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.2", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();
  const std::vector<uint32_t> ids = (*scope)->ProgramIds();
  UniqueFd listener = ListenIn(spec.cgroup_path, kServerV4, SOCK_STREAM);
  EchoServer echo(listener.get());
  const uint16_t port = LocalPort(listener.get());

  engine_.reset();  // as if the daemon crashed: nothing is detached
  {
    UniqueFd bad = StartConnect(*cli_, kDeniedV4, kServerV4, port);
    EXPECT_FALSE(WaitConnected(bad.get(), milliseconds(1500)));
  }

  kernel::LiveKernelProbe probe;
  auto engine = kernel::Engine::Open(Options(), probe);
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine_ = *std::move(engine);
  auto adopted = engine_->AttachScope(spec, Policy("192.0.2.2 192.0.2.3", "any"));
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ((*adopted)->ProgramIds(), ids);  // the same links, not a second pair
  UniqueFd now_ok = StartConnect(*cli_, kDeniedV4, kServerV4, port);
  EXPECT_TRUE(WaitConnected(now_ok.get(), kIo));
  auto programs = kernel::EffectivePrograms(spec.cgroup_path);
  ASSERT_TRUE(programs.ok());
  EXPECT_EQ(programs->size(), 2u);
}

TEST_F(EngineNetnsTest, ForeignProgramsOnTheCgroupPathAreFoundAndWarnedAbout) {
  if (!ready_) return;
  // Someone else's pass-all program on an ancestor, as systemd's firewall would be.
  const bpf_insn insns[] = {
      // r0 = 1 (pass); exit
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 1},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET_INGRESS);
  // systemd's firewall (known by name: listed, not warned about) and someone else's.
  UniqueFd systemd_prog(
      bpf_prog_load(BPF_PROG_TYPE_CGROUP_SKB, "sd_fw_ingress", "GPL", insns, 2, &opts));
  UniqueFd other_prog(bpf_prog_load(BPF_PROG_TYPE_CGROUP_SKB, "acme_fw", "GPL", insns, 2, &opts));
  ASSERT_TRUE(systemd_prog.valid() && other_prog.valid());
  auto parent = kernel::Cgroup::CreateOrOpen(absl::StrCat(cgroup_root_, "/gates"));
  ASSERT_TRUE(parent.ok());
  UniqueFd link1(
      bpf_link_create(systemd_prog.get(), parent->fd(), BPF_CGROUP_INET_INGRESS, nullptr));
  UniqueFd link2(bpf_link_create(other_prog.get(), parent->fd(), BPF_CGROUP_INET_INGRESS, nullptr));
  ASSERT_TRUE(link1.valid() && link2.valid());

  // Our own host scope on the root of the subtree is not foreign.
  kernel::ScopeSpec host = Spec("", 1);
  host.name = "host";
  host.cgroup_path = cgroup_root_;
  host.host = true;
  ASSERT_TRUE(engine_->AttachScope(host, Policy("", "")).ok());
  EXPECT_TRUE(warnings_.empty());

  kernel::ScopeSpec spec = Spec("gates/web.socket");
  spec.name = "web.socket";
  auto scope = engine_->AttachScope(spec, Policy("any", ""));
  ASSERT_TRUE(scope.ok()) << scope.status();
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("foreign BPF program acme_fw"), std::string::npos) << warnings_[0];

  auto all = kernel::EffectivePrograms(spec.cgroup_path);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 6u);  // ours: 2 gate + 2 host; theirs: 2
  auto foreign = engine_->ForeignPrograms(**scope);
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  ASSERT_EQ(foreign->size(), 2u);
  std::vector<std::string> names = {(*foreign)[0].name, (*foreign)[1].name};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"acme_fw", "sd_fw_ingress"}));
  EXPECT_EQ((*foreign)[0].direction, Direction::kIngress);
}

TEST_F(EngineNetnsTest, DualStackListenerMatchesIPv4PeersAgainstIPv4Lists) {
  if (!ready_) return;
  // ::ffff:192.0.2.3 is an IPv6 entry: it never matches the IPv4 packets of 192.0.2.3.
  const kernel::ScopeSpec spec = Spec("dual.socket");
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.2 ::ffff:192.0.2.3", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();
  UniqueFd listener = ListenIn(spec.cgroup_path, "::", SOCK_STREAM);  // v6only off by default
  ASSERT_TRUE(listener.valid());
  EchoServer echo(listener.get());
  const uint16_t port = LocalPort(listener.get());

  UniqueFd ok = StartConnect(*cli_, kAllowedV4, kServerV4, port);
  ASSERT_TRUE(WaitConnected(ok.get(), kIo));
  EXPECT_TRUE(Exchange(ok.get(), kIo));

  const kernel::ScopeStats before = Stats(*scope);
  UniqueFd mapped = StartConnect(*cli_, kDeniedV4, kServerV4, port);
  ASSERT_TRUE(WaitDenied(*scope, before, Direction::kIngress, 1));
  EXPECT_FALSE(WaitConnected(mapped.get(), milliseconds(1500)));
  EXPECT_EQ(echo.accepted(), 1);
}

}  // namespace
}  // namespace gatekeeper::testing
