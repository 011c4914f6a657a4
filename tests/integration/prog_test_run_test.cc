// Verdicts, counters and denial events of the real programs on crafted packets
// (BPF_PROG_TEST_RUN), and the userspace verdict checked against the kernel's.
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "gate_abi.h"
#include "gtest/gtest.h"
#include "kernel/denial_events.h"
#include "tests/integration/engine_fixture.h"
#include "tests/integration/packets.h"

namespace gatekeeper::testing {
namespace {

using kernel::Direction;

class ProgTestRunTest : public EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    if (!ready_) return;
    auto reader = kernel::DenialEventReader::Create(
        engine_->events_fd(), [this](const kernel::DenialEvent& e) { events_.push_back(e); });
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_.emplace(*std::move(reader));
  }

  void Attach(const policy::CompiledPolicy& policy, uint32_t burst = 1000) {
    kernel::ScopeSpec spec = Spec("web.socket", 7);
    spec.events.burst = burst;
    spec.events.interval = absl::Hours(1);
    auto scope = engine_->AttachScope(spec, policy);
    ASSERT_TRUE(scope.ok()) << scope.status();
    scope_ = *scope;
    auto in = scope_->ProgramFd(Direction::kIngress);
    auto out = scope_->ProgramFd(Direction::kEgress);
    ASSERT_TRUE(in.ok() && out.ok());
    ingress_ = *std::move(in);
    egress_ = *std::move(out);
  }

  // Runs one packet through a program; returns its verdict (1 pass, 0 drop).
  int RunPacket(Direction dir, const PacketSpec& spec, uint32_t ifindex = 0,
                uint32_t gso_segs = 0) {
    std::vector<uint8_t> pkt = BuildPacket(spec);
    __sk_buff ctx{};
    ctx.ifindex = ifindex;
    ctx.gso_segs = gso_segs;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(),
                .data_size_in = static_cast<__u32>(pkt.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof(ctx), .repeat = 1);
    const int fd = dir == Direction::kIngress ? ingress_.get() : egress_.get();
    const int err = bpf_prog_test_run_opts(fd, &opts);
    EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN: " << strerror(errno);
    return static_cast<int>(opts.retval);
  }

  kernel::ScopeStats Stats() { return EngineFixture::Stats(scope_); }

  std::vector<kernel::DenialEvent> DrainEvents() {
    events_.clear();
    EXPECT_TRUE(reader_->Drain().ok());
    return events_;
  }

  kernel::Scope* scope_ = nullptr;
  common::UniqueFd ingress_, egress_;
  std::optional<kernel::DenialEventReader> reader_;
  std::vector<kernel::DenialEvent> events_;
};

TEST_F(ProgTestRunTest, VerdictsAndCountersBothFamiliesBothDirections) {
  if (!ready_) return;
  // allow-over-deny: 192.0.2.0/24 is denied except 192.0.2.2; 2001:db8::/32 likewise.
  const policy::CompiledPolicy policy =
      Policy("192.0.2.2 2001:db8::2", "192.0.2.0/24 2001:db8::/32");
  ASSERT_NO_FATAL_FAILURE(Attach(policy));

  struct Case {
    const char* name;
    Direction dir;
    PacketSpec pkt;
    int verdict;
  };
  const Case cases[] = {
      {"v4 tcp allow", Direction::kIngress, {"192.0.2.2", "192.0.2.1", IPPROTO_TCP}, 1},
      {"v4 tcp deny", Direction::kIngress, {"192.0.2.3", "192.0.2.1", IPPROTO_TCP}, 0},
      {"v4 udp deny", Direction::kIngress, {"192.0.2.9", "192.0.2.1", IPPROTO_UDP}, 0},
      {"v4 no match", Direction::kIngress, {"198.51.100.7", "192.0.2.1", IPPROTO_UDP}, 1},
      {"v4 egress allow", Direction::kEgress, {"192.0.2.1", "192.0.2.2", IPPROTO_TCP}, 1},
      {"v4 egress deny", Direction::kEgress, {"192.0.2.1", "192.0.2.3", IPPROTO_UDP}, 0},
      {"v6 tcp allow", Direction::kIngress, {"2001:db8::2", "2001:db8::1", IPPROTO_TCP}, 1},
      {"v6 tcp deny", Direction::kIngress, {"2001:db8::3", "2001:db8::1", IPPROTO_TCP}, 0},
      {"v6 no match", Direction::kIngress, {"2001:db9::3", "2001:db8::1", IPPROTO_UDP}, 1},
      {"v6 egress deny", Direction::kEgress, {"2001:db8::1", "2001:db8:1::5", IPPROTO_UDP}, 0},
      {"v6 egress allow", Direction::kEgress, {"2001:db8::1", "2001:db8::2", IPPROTO_UDP}, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const kernel::ScopeStats before = Stats();
    const size_t len = BuildPacket(c.pkt).size() - 14;  // the Ethernet header is not counted
    EXPECT_EQ(RunPacket(c.dir, c.pkt), c.verdict);
    const kernel::ScopeStats after = Stats();
    const int d = static_cast<int>(c.dir);
    const auto& moved = c.verdict ? after.allowed[d] : after.denied[d];
    const auto& was = c.verdict ? before.allowed[d] : before.denied[d];
    EXPECT_EQ(moved.packets - was.packets, 1u);
    EXPECT_EQ(moved.bytes - was.bytes, len);
    const auto& other = c.verdict ? after.denied[d] : after.allowed[d];
    const auto& other_was = c.verdict ? before.denied[d] : before.allowed[d];
    EXPECT_EQ(other.packets, other_was.packets);

    // The userspace answer is the kernel's.
    const char* checked = c.dir == Direction::kIngress ? c.pkt.src.c_str() : c.pkt.dst.c_str();
    const policy::Verdict v = policy::Evaluate(policy, *policy::Address::Parse(checked));
    EXPECT_EQ(v.action == policy::Action::kAllow, c.verdict == 1);
  }
}

TEST_F(ProgTestRunTest, GsoSegmentsCountAsPackets) {
  if (!ready_) return;
  ASSERT_NO_FATAL_FAILURE(Attach(Policy("", "198.51.100.0/24")));
  const kernel::ScopeStats before = Stats();
  EXPECT_EQ(RunPacket(Direction::kEgress, {"192.0.2.1", "198.51.100.1"}, 0, 5), 0);
  const kernel::ScopeStats after = Stats();
  EXPECT_EQ(after.denied[1].packets - before.denied[1].packets, 5u);
}

TEST_F(ProgTestRunTest, DenialEventsNameRulePeerAndPorts) {
  if (!ready_) return;
  const policy::CompiledPolicy policy = Policy("192.0.2.2", "any");
  ASSERT_NO_FATAL_FAILURE(Attach(policy));
  DrainEvents();
  PacketSpec v4{"192.0.2.3", "192.0.2.1", IPPROTO_TCP, 41000, 8443};
  v4.ipv4_options = true;
  PacketSpec v6{"2001:db8::3", "2001:db8::1", IPPROTO_UDP, 41001, 53};
  v6.ipv6_extension_headers = true;
  ASSERT_EQ(RunPacket(Direction::kIngress, v4), 0);
  ASSERT_EQ(RunPacket(Direction::kIngress, v6), 0);
  ASSERT_EQ(RunPacket(Direction::kEgress, {"192.0.2.1", "198.51.100.9", IPPROTO_UDP, 5353, 53}), 0);
  const std::vector<kernel::DenialEvent> ev = DrainEvents();
  ASSERT_EQ(ev.size(), 3u);

  EXPECT_EQ(ev[0].scope_id, 7u);
  EXPECT_EQ(ev[0].direction, Direction::kIngress);
  EXPECT_EQ(ev[0].protocol, IPPROTO_TCP);
  EXPECT_EQ(ev[0].remote.ToString(), "192.0.2.3");
  EXPECT_EQ(ev[0].local.ToString(), "192.0.2.1");
  EXPECT_TRUE(ev[0].has_ports);  // behind 8 bytes of IPv4 options
  EXPECT_EQ(ev[0].remote_port, 41000);
  EXPECT_EQ(ev[0].local_port, 8443);
  const policy::Rule* rule = policy.FindRule(ev[0].rule_id);
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->action, policy::Action::kDeny);
  EXPECT_EQ(rule->entry->token, "any");
  EXPECT_EQ(rule->entry->origin.line, 2);

  EXPECT_EQ(ev[1].remote.ToString(), "2001:db8::3");
  EXPECT_EQ(ev[1].protocol, IPPROTO_UDP);
  EXPECT_TRUE(ev[1].has_ports);  // behind hop-by-hop and destination options
  EXPECT_EQ(ev[1].remote_port, 41001);
  EXPECT_EQ(ev[1].local_port, 53);

  EXPECT_EQ(ev[2].direction, Direction::kEgress);
  EXPECT_EQ(ev[2].remote.ToString(), "198.51.100.9");
  EXPECT_EQ(ev[2].remote_port, 53);
  EXPECT_EQ(ev[2].local_port, 5353);

  const kernel::ScopeStats s = Stats();
  EXPECT_EQ(s.events_sent, 3u);
  EXPECT_EQ(s.events_suppressed, 0u);
}

TEST_F(ProgTestRunTest, RateLimitSuppressesAndCounts) {
  if (!ready_) return;
  ASSERT_NO_FATAL_FAILURE(Attach(Policy("", "any"), /*burst=*/4));
  DrainEvents();
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(RunPacket(Direction::kIngress, {"192.0.2.3", "192.0.2.1", IPPROTO_UDP}), 0);
  }
  EXPECT_EQ(DrainEvents().size(), 4u);
  const kernel::ScopeStats s = Stats();
  EXPECT_EQ(s.denied[0].packets, 10u);
  EXPECT_EQ(s.events_sent, 4u);
  EXPECT_EQ(s.events_suppressed, 6u);
  EXPECT_EQ(s.events_lost, 0u);
}

TEST_F(ProgTestRunTest, DeviceBindingDropsOtherDevicesAndEverythingWhileAway) {
  if (!ready_) return;
  ASSERT_NO_FATAL_FAILURE(Attach(Policy("any", "")));
  const PacketSpec pkt{"192.0.2.2", "192.0.2.1"};
  // BPF_PROG_TEST_RUN delivers on loopback (ifindex 1) unless told otherwise.
  ASSERT_TRUE(scope_->SetBoundDevice(1u).ok());
  EXPECT_EQ(RunPacket(Direction::kIngress, pkt), 1);
  ASSERT_TRUE(scope_->SetBoundDevice(0u).ok());  // device away
  DrainEvents();
  EXPECT_EQ(RunPacket(Direction::kIngress, pkt), 0);
  const auto ev = DrainEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].rule_id, GK_RULE_DEVICE);
  // Egress is not tied to the device.
  EXPECT_EQ(RunPacket(Direction::kEgress, {"192.0.2.1", "192.0.2.2"}), 1);
  ASSERT_TRUE(scope_->SetBoundDevice(std::nullopt).ok());
  EXPECT_EQ(RunPacket(Direction::kIngress, pkt), 1);
}

TEST_F(ProgTestRunTest, EgressLetsOnlyBareResetsToDeniedPeersOut) {
  if (!ready_) return;
  ASSERT_NO_FATAL_FAILURE(Attach(Policy("192.0.2.2 2001:db8::2", "192.0.2.0/24 2001:db8::/32")));
  auto with = [](PacketSpec p, auto&& change) {
    change(p);
    return p;
  };
  enum class Bucket { kAllowed, kDenied, kRstPassed };
  struct Case {
    const char* name;
    Direction dir;
    PacketSpec pkt;
    Bucket bucket;
  };
  const PacketSpec ack_v4 =
      with(TcpReset(kServerV4, kDeniedV4), [](PacketSpec& p) { p.tcp_flags = kTcpAck; });
  const PacketSpec ack_v6 =
      with(TcpReset(kServerV6, kDeniedV6), [](PacketSpec& p) { p.tcp_flags = kTcpAck; });
  const Case cases[] = {
      {"v4 bare rst", Direction::kEgress, TcpReset(kServerV4, kDeniedV4), Bucket::kRstPassed},
      {"v4 bare rst behind ip options", Direction::kEgress,
       with(TcpReset(kServerV4, kDeniedV4), [](PacketSpec& p) { p.ipv4_options = true; }),
       Bucket::kRstPassed},
      {"v4 bare rst with timestamps", Direction::kEgress,
       with(TcpReset(kServerV4, kDeniedV4), [](PacketSpec& p) { p.tcp_option_words = 3; }),
       Bucket::kRstPassed},
      {"v4 rst alone, no ack", Direction::kEgress,
       with(TcpReset(kServerV4, kDeniedV4), [](PacketSpec& p) { p.tcp_flags = kTcpRst; }),
       Bucket::kRstPassed},
      {"v6 bare rst", Direction::kEgress, TcpReset(kServerV6, kDeniedV6), Bucket::kRstPassed},
      {"v6 bare rst behind extension headers", Direction::kEgress,
       with(TcpReset(kServerV6, kDeniedV6), [](PacketSpec& p) { p.ipv6_extension_headers = true; }),
       Bucket::kRstPassed},
      {"v4 rst with payload", Direction::kEgress, TcpReset(kServerV4, kDeniedV4, 1),
       Bucket::kDenied},
      {"v6 rst with payload", Direction::kEgress, TcpReset(kServerV6, kDeniedV6, 16),
       Bucket::kDenied},
      {"v6 rst with payload behind extension headers", Direction::kEgress,
       with(TcpReset(kServerV6, kDeniedV6, 1),
            [](PacketSpec& p) { p.ipv6_extension_headers = true; }),
       Bucket::kDenied},
      {"v4 rst in a first fragment", Direction::kEgress,
       with(TcpReset(kServerV4, kDeniedV4), [](PacketSpec& p) { p.ipv4_more_fragments = true; }),
       Bucket::kDenied},
      {"v4 ack", Direction::kEgress, ack_v4, Bucket::kDenied},
      {"v6 ack", Direction::kEgress, ack_v6, Bucket::kDenied},
      {"v4 ack with payload", Direction::kEgress,
       with(ack_v4, [](PacketSpec& p) { p.payload = 100; }), Bucket::kDenied},
      {"udp to a denied peer", Direction::kEgress,
       with(TcpReset(kServerV4, kDeniedV4), [](PacketSpec& p) { p.protocol = IPPROTO_UDP; }),
       Bucket::kDenied},
      {"v4 ingress rst from a denied peer", Direction::kIngress, TcpReset(kDeniedV4, kServerV4),
       Bucket::kDenied},
      {"v6 ingress rst from a denied peer", Direction::kIngress, TcpReset(kDeniedV6, kServerV6),
       Bucket::kDenied},
      {"v4 rst to an allowed peer", Direction::kEgress, TcpReset(kServerV4, kAllowedV4),
       Bucket::kAllowed},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    DrainEvents();
    const kernel::ScopeStats before = Stats();
    const size_t len = BuildPacket(c.pkt).size() - 14;  // the Ethernet header is not counted
    EXPECT_EQ(RunPacket(c.dir, c.pkt), c.bucket == Bucket::kDenied ? 0 : 1);
    const kernel::ScopeStats after = Stats();
    const int d = static_cast<int>(c.dir);
    const uint64_t allowed = after.allowed[d].packets - before.allowed[d].packets;
    const uint64_t denied = after.denied[d].packets - before.denied[d].packets;
    const uint64_t passed = after.rst_passed.packets - before.rst_passed.packets;
    EXPECT_EQ(allowed, c.bucket == Bucket::kAllowed ? 1u : 0u);
    EXPECT_EQ(denied, c.bucket == Bucket::kDenied ? 1u : 0u);
    EXPECT_EQ(passed, c.bucket == Bucket::kRstPassed ? 1u : 0u);
    if (c.bucket == Bucket::kRstPassed) {
      EXPECT_EQ(after.rst_passed.bytes - before.rst_passed.bytes, len);
    }
    // A reset let out refuses nothing, so it is no denial event.
    EXPECT_EQ(DrainEvents().size(), c.bucket == Bucket::kDenied ? 1u : 0u);
  }
}

TEST_F(ProgTestRunTest, UserspaceVerdictMatchesKernelOnRandomAddresses) {
  if (!ready_) return;
  std::mt19937 rng(20261127);
  auto v4 = [&](int net) {
    static const char* nets[] = {"192.0.2.", "198.51.100.", "203.0.113."};
    return absl::StrCat(nets[net % 3], rng() % 256);
  };
  std::string allow, deny;
  for (int i = 0; i < 60; ++i) {
    absl::StrAppend(&allow, v4(i), "/", 24 + rng() % 9, " ");
    absl::StrAppend(&deny, v4(i + 1), "/", 22 + rng() % 11, " ");
    absl::StrAppend(&allow, "2001:db8:", rng() % 4, "::", absl::Hex(rng() % 65536), "/",
                    32 + rng() % 97, " ");
    absl::StrAppend(&deny, "2001:db8:", rng() % 4, "::/", 32 + rng() % 33, " ");
  }
  const policy::CompiledPolicy policy = Policy(allow, deny);
  ASSERT_NO_FATAL_FAILURE(Attach(policy, 1));
  for (int i = 0; i < 400; ++i) {
    const std::string addr =
        i % 2 ? v4(i) : absl::StrCat("2001:db8:", rng() % 4, "::", absl::Hex(rng() % 65536));
    const bool kernel_allows =
        RunPacket(Direction::kIngress, {addr, i % 2 ? "192.0.2.1" : "2001:db8::1"}) == 1;
    const bool user_allows =
        policy::Evaluate(policy, *policy::Address::Parse(addr)).action == policy::Action::kAllow;
    ASSERT_EQ(kernel_allows, user_allows) << addr;
  }
}

TEST_F(ProgTestRunTest, NoPolicyInstalledFailsClosed) {
  if (!ready_) return;
  // A scope whose tries were never filled (as between load and first install) drops.
  ASSERT_NO_FATAL_FAILURE(Attach(Policy("any", "")));
  auto prog = scope_->ProgramFd(Direction::kIngress);
  ASSERT_TRUE(prog.ok());
  // Find the outer map of the program and empty its slot.
  bpf_prog_info info{};
  uint32_t map_ids[16] = {};
  info.nr_map_ids = 16;
  info.map_ids = reinterpret_cast<uint64_t>(map_ids);
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(prog->get(), &info, &len), 0);
  for (uint32_t i = 0; i < info.nr_map_ids; ++i) {
    common::UniqueFd map(bpf_map_get_fd_by_id(map_ids[i]));
    bpf_map_info minfo{};
    uint32_t mlen = sizeof(minfo);
    ASSERT_EQ(bpf_obj_get_info_by_fd(map.get(), &minfo, &mlen), 0);
    if (std::string(minfo.name) == "policy_v4") {
      const uint32_t zero = 0;
      ASSERT_EQ(bpf_map_delete_elem(map.get(), &zero), 0);
    }
  }
  DrainEvents();
  EXPECT_EQ(RunPacket(Direction::kIngress, {"192.0.2.2", "192.0.2.1"}), 0);
  const auto ev = DrainEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].rule_id, GK_RULE_NO_POLICY);
  // IPv6 still has its trie.
  EXPECT_EQ(RunPacket(Direction::kIngress, {"2001:db8::2", "2001:db8::1"}), 1);
}

}  // namespace
}  // namespace gatekeeper::testing
