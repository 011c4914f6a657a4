// The limits of the mechanism (docs/security.md, "Limits of the mechanism"), each shown on real
// traffic: cgroup_skb programs see only the packets that reach or leave a socket of a filtered
// cgroup. Every test states the limit as the expected behaviour, so it fails the day the kernel
// starts filtering that path (which we would want to know), and shows the contrasting packet being
// filtered, so a pass cannot come from a filter that was not in place.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/socket_address.h"
#include "gtest/gtest.h"
#include "kernel/cgroup.h"
#include "kernel/socket_in_cgroup.h"
#include "tests/integration/engine_fixture.h"

namespace gatekeeper::testing {
namespace {

using common::UniqueFd;
using kernel::Direction;
using std::chrono::milliseconds;

constexpr milliseconds kIo{5000};
// How long a connect must stay unanswered to count as dropped. A reset or an ICMP error comes back
// in well under a millisecond on veth; a dropped SYN is only retransmitted after a second.
constexpr milliseconds kDropped{300};

constexpr int kIngress = static_cast<int>(Direction::kIngress);
constexpr int kEgress = static_cast<int>(Direction::kEgress);

// A socket with an explicit protocol (raw sockets need one), made in `netns`.
UniqueFd SocketIn(const Netns& netns, int family, int type, int protocol) {
  UniqueFd result;
  std::thread t([&] {
    if (::setns(netns.fd(), CLONE_NEWNET) != 0) return;
    result.reset(::socket(family, type | SOCK_CLOEXEC, protocol));
  });
  t.join();
  return result;
}

// A datagram socket in `netns` bound to `ip` (any port).
UniqueFd UdpBoundTo(const Netns& netns, const std::string& ip) {
  UniqueFd fd = SocketIn(netns, AF_INET, SOCK_DGRAM);
  socklen_t len;
  sockaddr_storage a = MakeAddr(ip, 0, &len);
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) != 0) return {};
  return fd;
}

// 0 when the whole datagram was sent, else sendto()'s errno.
int SendTo(int fd, const std::string& data, const std::string& ip, uint16_t port) {
  socklen_t len;
  sockaddr_storage a = MakeAddr(ip, port, &len);
  const ssize_t n = ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), len);
  if (n < 0) return errno;
  return n == static_cast<ssize_t>(data.size()) ? 0 : EMSGSIZE;
}

// The error a non-blocking recv() reports now (EAGAIN: nothing pending), 0 when data was there.
int RecvError(int fd) {
  char b;
  return ::recv(fd, &b, 1, MSG_DONTWAIT) < 0 ? errno : 0;
}

// The next datagram within `timeout`, or nullopt.
std::optional<std::string> Receive(int fd, milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
  char buf[2048];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  return std::string(buf, n);
}

// How a non-blocking connect ended: its error (0: connected), or nullopt while still unanswered
// after `timeout`.
std::optional<int> ConnectOutcome(int fd, milliseconds timeout) {
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

// The Internet checksum (RFC 1071).
uint16_t Checksum(const uint8_t* data, size_t size) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < size; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (size % 2) sum += data[size - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void PutChecksum(std::vector<uint8_t>& bytes, size_t at, size_t from, size_t size) {
  bytes[at] = bytes[at + 1] = 0;
  const uint16_t sum = Checksum(bytes.data() + from, size);
  bytes[at] = sum >> 8;
  bytes[at + 1] = sum & 0xff;
}

uint32_t V4(const std::string& ip) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, ip.c_str(), &a), 1) << ip;
  return a.s_addr;  // network order
}

// An IPv4 header (no options, checksum set) followed by a UDP header without checksum and
// `payload`.
std::vector<uint8_t> UdpPacket(const std::string& src, uint16_t sport, const std::string& dst,
                               uint16_t dport, const std::string& payload) {
  std::vector<uint8_t> p(28, 0);
  const uint16_t total = 28 + payload.size();
  p[0] = 0x45;
  p[2] = total >> 8;
  p[3] = total & 0xff;
  p[8] = 64;
  p[9] = IPPROTO_UDP;
  const uint32_t s = V4(src), d = V4(dst);
  std::memcpy(&p[12], &s, 4);
  std::memcpy(&p[16], &d, 4);
  PutChecksum(p, 10, 0, 20);
  p[20] = sport >> 8;
  p[21] = sport & 0xff;
  p[22] = dport >> 8;
  p[23] = dport & 0xff;
  p[24] = (8 + payload.size()) >> 8;
  p[25] = (8 + payload.size()) & 0xff;
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

// The parts of an IPv4/UDP packet the tests look at; nullopt for anything else.
struct UdpView {
  uint32_t src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
  size_t header_end = 0;  // IP header + UDP header
  std::string payload;
};

std::optional<UdpView> ParseUdp(const uint8_t* ip, size_t size) {
  if (size < 20 || (ip[0] >> 4) != 4 || ip[9] != IPPROTO_UDP) return std::nullopt;
  const size_t ihl = (ip[0] & 0x0f) * 4;
  if (ihl < 20 || size < ihl + 8) return std::nullopt;
  UdpView v;
  std::memcpy(&v.src, ip + 12, 4);
  std::memcpy(&v.dst, ip + 16, 4);
  v.sport = (ip[ihl] << 8) | ip[ihl + 1];
  v.dport = (ip[ihl + 2] << 8) | ip[ihl + 3];
  v.header_end = ihl + 8;
  v.payload.assign(reinterpret_cast<const char*>(ip) + ihl + 8, size - ihl - 8);
  return v;
}

// Reads from `fd` until `match` accepts a packet (returned whole, with its sender's address in
// `from` when given) or `timeout` passes; at most 1000 packets.
std::optional<std::vector<uint8_t>> ReceiveMatching(
    int fd, const std::function<bool(const std::vector<uint8_t>&)>& match, milliseconds timeout,
    sockaddr_ll* from = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int i = 0; i < 1000; ++i) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    std::vector<uint8_t> buf(65536);
    sockaddr_ll sll{};
    socklen_t len = sizeof(sll);
    const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&sll), &len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      ADD_FAILURE() << "recvfrom: " << std::strerror(errno);
      break;
    }
    buf.resize(n);
    if (match(buf)) {
      if (from) *from = sll;
      return buf;
    }
  }
  return std::nullopt;
}

class MechanismLimitsTest : public EngineFixture {
 protected:
  // A host scope on `cgroup_path` (no gates below it: it judges every socket there).
  absl::StatusOr<kernel::Scope*> AttachHostScope(const std::string& cgroup_path,
                                                 const policy::CompiledPolicy& policy) {
    kernel::ScopeSpec host;
    host.name = "host";
    host.id = 1;
    host.cgroup_path = cgroup_path;
    host.host = true;
    return engine_->AttachScope(host, policy);
  }
};

// A denied host can send "port unreachable" for a connected UDP socket: ICMP errors are delivered
// to the socket they quote by the ICMP layer, without passing the socket's cgroup programs.
TEST_F(MechanismLimitsTest, IcmpErrorFromADeniedPeerReachesAConnectedUdpSocket) {
  if (!ready_) return;
  const kernel::ScopeSpec spec = Spec("dns.service");
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.2", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();
  UniqueFd sock = ListenIn(spec.cgroup_path, kServerV4, SOCK_DGRAM);
  ASSERT_TRUE(sock.valid());
  const uint16_t port = LocalPort(sock.get());
  UniqueFd good = UdpBoundTo(*cli_, kAllowedV4);
  UniqueFd bad = UdpBoundTo(*cli_, kDeniedV4);
  ASSERT_TRUE(good.valid() && bad.valid());

  // Filtered: the denied peer's datagram is dropped and counted, the allowed one's arrives. This
  // happens before connect(): once connected, the socket no longer matches a datagram from any
  // other address, so the kernel would discard it before the filter is ever asked.
  kernel::ScopeStats before = Stats(*scope);
  ASSERT_EQ(0, SendTo(bad.get(), "from-denied", kServerV4, port));
  ASSERT_TRUE(WaitDenied(*scope, before, Direction::kIngress, 1));
  ASSERT_EQ(0, SendTo(good.get(), "from-allowed", kServerV4, port));
  EXPECT_EQ(Receive(sock.get(), kIo), "from-allowed");
  EXPECT_EQ(Receive(sock.get(), milliseconds(0)), std::nullopt);  // nothing else was queued

  // The socket talks to the allowed peer; a raw socket on the client side captures the socket's
  // datagram as it arrived, to quote it in the ICMP error.
  socklen_t len;
  sockaddr_storage peer = MakeAddr(kAllowedV4, LocalPort(good.get()), &len);
  ASSERT_EQ(::connect(sock.get(), reinterpret_cast<sockaddr*>(&peer), len), 0);
  UniqueFd sniffer = SocketIn(*cli_, AF_INET, SOCK_RAW, IPPROTO_UDP);
  ASSERT_TRUE(sniffer.valid()) << std::strerror(errno);
  ASSERT_EQ(::send(sock.get(), "ping", 4, 0), 4);
  EXPECT_EQ(Receive(good.get(), kIo), "ping");
  const auto quoted = ReceiveMatching(
      sniffer.get(),
      [&](const std::vector<uint8_t>& p) {
        const auto v = ParseUdp(p.data(), p.size());
        return v && v->src == V4(kServerV4) && v->sport == port && v->payload == "ping";
      },
      kIo);
  ASSERT_TRUE(quoted.has_value());
  ASSERT_EQ(RecvError(sock.get()), EAGAIN);  // no error pending yet

  // Destination unreachable, port unreachable, from the denied address: the IP header and the
  // first 8 bytes of the datagram it concerns.
  const size_t quote = ParseUdp(quoted->data(), quoted->size())->header_end;
  std::vector<uint8_t> icmp = {3, 3, 0, 0, 0, 0, 0, 0};
  icmp.insert(icmp.end(), quoted->begin(), quoted->begin() + quote);
  PutChecksum(icmp, 2, 0, icmp.size());
  UniqueFd raw = SocketIn(*cli_, AF_INET, SOCK_RAW, IPPROTO_ICMP);
  ASSERT_TRUE(raw.valid()) << std::strerror(errno);
  sockaddr_storage src = MakeAddr(kDeniedV4, 0, &len);
  ASSERT_EQ(::bind(raw.get(), reinterpret_cast<sockaddr*>(&src), len), 0);
  before = Stats(*scope);
  sockaddr_storage dst = MakeAddr(kServerV4, 0, &len);
  ASSERT_EQ(
      ::sendto(raw.get(), icmp.data(), icmp.size(), 0, reinterpret_cast<sockaddr*>(&dst), len),
      static_cast<ssize_t>(icmp.size()));

  // The limit: the error reaches the socket, and the scope's programs never saw it.
  pollfd p{sock.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, static_cast<int>(kIo.count())), 1);
  EXPECT_EQ(RecvError(sock.get()), ECONNREFUSED);
  const kernel::ScopeStats after = Stats(*scope);
  EXPECT_EQ(after.denied[kIngress].packets, before.denied[kIngress].packets);
  EXPECT_EQ(after.allowed[kIngress].packets, before.allowed[kIngress].packets);
}

// Forwarded packets belong to no local socket, so no cgroup program sees them: A - R - B with R
// forwarding between two links. The host scope's cgroup (the test's subtree) holds a socket of R
// and denies A; A's packets to that socket are dropped, A's connection through R to B is not.
TEST_F(MechanismLimitsTest, HostScopeDoesNotSeeForwardedPackets) {
  if (!ready_) return;
  constexpr char kA[] = "198.51.100.2", kRouterA[] = "198.51.100.1";
  constexpr char kB[] = "203.0.113.2", kRouterB[] = "203.0.113.1";
  // gkc/gks prefixes: check_leftovers.sh looks for them.
  Netns a(UniqueName("gkca")), r(UniqueName("gksr")), b(UniqueName("gksb"));
  ConnectNamespaces(a, absl::StrCat(kA, "/24"), r, absl::StrCat(kRouterA, "/24"));
  ConnectNamespaces(r, absl::StrCat(kRouterB, "/24"), b, absl::StrCat(kB, "/24"));
  a.Ip({"route", "add", "203.0.113.0/24", "via", kRouterA});
  b.Ip({"route", "add", "198.51.100.0/24", "via", kRouterB});
  std::string host_forwarding;
  ASSERT_EQ(gatekeeper::testing::Run({"sysctl", "-n", "net.ipv4.ip_forward"}, &host_forwarding), 0);
  MustRun({"ip", "netns", "exec", r.name(), "sysctl", "-qw", "net.ipv4.ip_forward=1"});
  ASSERT_FALSE(HasFatalFailure());

  auto host = AttachHostScope(cgroup_root_, Policy("", kA));
  ASSERT_TRUE(host.ok()) << host.status();
  UniqueFd router_listener =
      SocketInCgroup(absl::StrCat(cgroup_root_, "/router"), r, kRouterA, SOCK_STREAM, 128);
  ASSERT_TRUE(router_listener.valid());
  EchoServer router_echo(router_listener.get());
  const uint16_t router_port = LocalPort(router_listener.get());
  // B's server is the test's own socket, outside the filtered cgroup.
  UniqueFd b_listener = SocketIn(b, AF_INET, SOCK_STREAM);
  socklen_t len;
  sockaddr_storage b_addr = MakeAddr(kB, 0, &len);
  ASSERT_EQ(::bind(b_listener.get(), reinterpret_cast<sockaddr*>(&b_addr), len), 0);
  ASSERT_EQ(::listen(b_listener.get(), 16), 0);
  EchoServer b_echo(b_listener.get());

  // The limit: A's connection through R is served, and the host scope counts none of its packets
  // (R's socket is idle meanwhile: nothing else can move the counters).
  kernel::ScopeStats before = Stats(*host);
  UniqueFd through = StartConnect(a, kA, kB, LocalPort(b_listener.get()));
  ASSERT_EQ(ConnectOutcome(through.get(), kIo), 0);
  EXPECT_TRUE(Exchange(through.get(), kIo));
  EXPECT_EQ(b_echo.accepted(), 1);
  const kernel::ScopeStats after = Stats(*host);
  for (const int d : {kIngress, kEgress}) {
    EXPECT_EQ(after.denied[d].packets, before.denied[d].packets) << d;
    EXPECT_EQ(after.allowed[d].packets, before.allowed[d].packets) << d;
  }

  // Filtered: R's socket refuses A (its SYN is dropped and counted) but serves B.
  before = Stats(*host);
  UniqueFd denied = StartConnect(a, kA, kRouterA, router_port);
  ASSERT_TRUE(denied.valid());
  ASSERT_TRUE(WaitDenied(*host, before, Direction::kIngress, 1));
  EXPECT_EQ(ConnectOutcome(denied.get(), kDropped), std::nullopt);
  UniqueFd from_b = StartConnect(b, kB, kRouterA, router_port);
  ASSERT_EQ(ConnectOutcome(from_b.get(), kIo), 0);
  EXPECT_TRUE(Exchange(from_b.get(), kIo));
  EXPECT_EQ(router_echo.accepted(), 1);
  EXPECT_GT(Stats(*host).allowed[kIngress].packets, before.allowed[kIngress].packets);

  // Forwarding was switched on in R only.
  std::string now;
  ASSERT_EQ(gatekeeper::testing::Run({"sysctl", "-n", "net.ipv4.ip_forward"}, &now), 0);
  EXPECT_EQ(now, host_forwarding);
}

// AF_PACKET sockets take frames from the device and hand frames to it, below IP: the cgroup
// programs never run for them, whatever cgroup the socket was made in.
TEST_F(MechanismLimitsTest, PacketSocketReceivesAndSendsFramesOfADeniedPeer) {
  if (!ready_) return;
  const kernel::ScopeSpec spec = Spec("sniff.service");
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.2", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();
  UniqueFd udp = ListenIn(spec.cgroup_path, kServerV4, SOCK_DGRAM);
  ASSERT_TRUE(udp.valid());
  const uint16_t port = LocalPort(udp.get());
  // A packet socket of the same cgroup: made by a helper in the cgroup, bound to every device.
  auto cgroup = kernel::Cgroup::Open(spec.cgroup_path);
  ASSERT_TRUE(cgroup.ok()) << cgroup.status();
  kernel::SocketRequest req;
  req.family = AF_PACKET;
  req.type = SOCK_RAW;
  req.reuse_addr = false;
  auto packet = kernel::CreateSocketInCgroup(cgroup->fd(), srv_->fd(), req);
  ASSERT_TRUE(packet.ok()) << packet.status();
  sockaddr_ll all{};
  all.sll_family = AF_PACKET;
  all.sll_protocol = htons(ETH_P_ALL);
  ASSERT_EQ(::bind(packet->get(), reinterpret_cast<sockaddr*>(&all), sizeof(all)), 0)
      << std::strerror(errno);
  UniqueFd good = UdpBoundTo(*cli_, kAllowedV4);
  UniqueFd bad = UdpBoundTo(*cli_, kDeniedV4);
  ASSERT_TRUE(good.valid() && bad.valid());

  // Filtered: the denied peer's datagram never reaches the inet socket; the allowed one's does.
  const kernel::ScopeStats before = Stats(*scope);
  ASSERT_EQ(0, SendTo(bad.get(), "denied-datagram", kServerV4, port));
  ASSERT_TRUE(WaitDenied(*scope, before, Direction::kIngress, 1));
  ASSERT_EQ(0, SendTo(good.get(), "allowed-datagram", kServerV4, port));
  EXPECT_EQ(Receive(udp.get(), kIo), "allowed-datagram");
  EXPECT_EQ(Receive(udp.get(), milliseconds(0)), std::nullopt);

  // The limit, receiving: the packet socket got the denied peer's frame all the same.
  sockaddr_ll from{};
  const auto frame = ReceiveMatching(
      packet->get(),
      [&](const std::vector<uint8_t>& f) {
        if (f.size() < ETH_HLEN || f[12] != 0x08 || f[13] != 0x00) return false;
        const auto v = ParseUdp(f.data() + ETH_HLEN, f.size() - ETH_HLEN);
        return v && v->src == V4(kDeniedV4) && v->dport == port && v->payload == "denied-datagram";
      },
      kIo, &from);
  ASSERT_TRUE(frame.has_value());

  // Filtered: the inet socket cannot send to the denied peer.
  const uint16_t bad_port = LocalPort(bad.get());
  EXPECT_EQ(SendTo(udp.get(), "inet-reply", kDeniedV4, bad_port), EPERM);
  EXPECT_EQ(Receive(bad.get(), milliseconds(0)), std::nullopt);

  // The limit, sending: a frame written by the packet socket reaches the denied peer.
  std::vector<uint8_t> reply(frame->begin() + 6, frame->begin() + 12);  // to the sender's MAC
  reply.insert(reply.end(), frame->begin(), frame->begin() + 6);        // from ours
  reply.insert(reply.end(), {0x08, 0x00});
  const std::vector<uint8_t> ip = UdpPacket(kServerV4, port, kDeniedV4, bad_port, "frame-reply");
  reply.insert(reply.end(), ip.begin(), ip.end());
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_IP);
  to.sll_ifindex = from.sll_ifindex;
  to.sll_halen = ETH_ALEN;
  std::memcpy(to.sll_addr, reply.data(), ETH_ALEN);
  ASSERT_EQ(::sendto(packet->get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof(to)),
            static_cast<ssize_t>(reply.size()))
      << std::strerror(errno);
  EXPECT_EQ(Receive(bad.get(), kIo), "frame-reply");

  // The scope judged the two inet datagrams of the denied peer and nothing of the packet socket.
  const kernel::ScopeStats after = Stats(*scope);
  EXPECT_EQ(after.denied[kIngress].packets - before.denied[kIngress].packets, 1u);
  EXPECT_EQ(after.denied[kEgress].packets - before.denied[kEgress].packets, 1u);
  EXPECT_EQ(after.allowed[kIngress].packets - before.allowed[kIngress].packets, 1u);
  EXPECT_EQ(after.allowed[kEgress].packets - before.allowed[kEgress].packets, 0u);
}

// The kernel answers a SYN to a port nobody listens on with a reset of its own, sent for no socket
// of a filtered cgroup, so no program stops it; a SYN to a gate's listener is dropped without an
// answer. A denied peer can therefore still tell open ports (no answer) from closed ones (a reset):
// a port scan from a denied address maps exactly which ports the filtered sockets listen on.
TEST_F(MechanismLimitsTest, KernelResetsTellADeniedPeerClosedPortsFromFilteredOnes) {
  if (!ready_) return;
  const kernel::ScopeSpec spec = Spec("ssh.socket");
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.2 2001:db8::2", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();

  for (const auto& [server, allowed, denied] : {std::tuple{kServerV4, kAllowedV4, kDeniedV4},
                                                std::tuple{kServerV6, kAllowedV6, kDeniedV6}}) {
    SCOPED_TRACE(server);
    UniqueFd listener = ListenIn(spec.cgroup_path, server, SOCK_STREAM);
    ASSERT_TRUE(listener.valid());
    EchoServer echo(listener.get());
    const uint16_t open_port = LocalPort(listener.get());
    // The closed port is held by a socket of the same cgroup that is bound but does not listen.
    UniqueFd holder = SocketInCgroup(spec.cgroup_path, *srv_, server, SOCK_STREAM, 0);
    ASSERT_TRUE(holder.valid());
    const uint16_t closed_port = LocalPort(holder.get());
    ASSERT_NE(closed_port, open_port);

    UniqueFd ok = StartConnect(*cli_, allowed, server, open_port);
    ASSERT_EQ(ConnectOutcome(ok.get(), kIo), 0);
    EXPECT_TRUE(Exchange(ok.get(), kIo));

    // Filtered: the denied peer's SYN to the listener is dropped and never answered.
    kernel::ScopeStats before = Stats(*scope);
    UniqueFd open = StartConnect(*cli_, denied, server, open_port);
    ASSERT_TRUE(open.valid());
    ASSERT_TRUE(WaitDenied(*scope, before, Direction::kIngress, 1));
    EXPECT_EQ(ConnectOutcome(open.get(), kDropped), std::nullopt);
    EXPECT_EQ(echo.accepted(), 1);

    // The limit: its SYN to the closed port gets the kernel's reset at once, unseen by the scope.
    before = Stats(*scope);
    UniqueFd closed = StartConnect(*cli_, denied, server, closed_port);
    ASSERT_TRUE(closed.valid());
    const auto start = std::chrono::steady_clock::now();  // the SYN is out
    EXPECT_EQ(ConnectOutcome(closed.get(), kIo), ECONNREFUSED);
    EXPECT_LT(
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count(),
        kDropped.count());
    const kernel::ScopeStats after = Stats(*scope);
    for (const int d : {kIngress, kEgress}) {
      EXPECT_EQ(after.denied[d].packets, before.denied[d].packets) << d;
    }
    EXPECT_EQ(after.rst_passed.packets, before.rst_passed.packets);
  }
}

// A process started in `cgroup_fd` that enters `netns_fd`, listens on `addr` (any port) and
// upper-cases one byte per connection, like a container's server. Killed and reaped on
// destruction; it dies with the test's thread too (PR_SET_PDEATHSIG).
class ContainerProcess {
 public:
  ContainerProcess(int cgroup_fd, int netns_fd, const common::SocketAddress& addr) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return;
    UniqueFd reader(pipefd[0]), writer(pipefd[1]);
    const pid_t parent = ::getpid();
    clone_args args{};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<__u64>(cgroup_fd);
    const long pid = ::syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0) return;
    if (pid == 0) Serve(writer.get(), netns_fd, addr, parent);  // never returns
    pid_ = static_cast<pid_t>(pid);
    writer.reset();
    pollfd p{reader.get(), POLLIN, 0};
    uint16_t port = 0;
    if (::poll(&p, 1, static_cast<int>(kIo.count())) == 1 &&
        ::read(reader.get(), &port, sizeof(port)) == sizeof(port)) {
      port_ = port;
    }
  }
  ~ContainerProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  ContainerProcess(const ContainerProcess&) = delete;
  ContainerProcess& operator=(const ContainerProcess&) = delete;

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }  // 0 when it did not start

 private:
  // In the child: system calls only, then _exit.
  [[noreturn]] static void Serve(int report, int netns_fd, const common::SocketAddress& addr,
                                 pid_t parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(1);
    if (::setns(netns_fd, CLONE_NEWNET) != 0) ::_exit(1);
    const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::bind(fd, addr.get(), addr.length) != 0 || ::listen(fd, 16) != 0) ::_exit(1);
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) ::_exit(1);
    const uint16_t port = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    if (::write(report, &port, sizeof(port)) != sizeof(port)) ::_exit(1);
    for (int i = 0; i < 1000; ++i) {
      const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      char b;
      if (::recv(c, &b, 1, 0) == 1) {
        b = static_cast<char>(b >= 'a' && b <= 'z' ? b - 'a' + 'A' : b);
        ::send(c, &b, 1, MSG_NOSIGNAL);
      }
      ::close(c);
    }
    ::_exit(0);
  }

  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

ino_t Inode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

ino_t Inode(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

// cgroup attachment ignores network namespaces: a host scope at the root of a cgroup tree filters
// a "container" below it (its own cgroup two levels down, its own network namespace), as a host
// scope at the machine's real root would filter every container. Nothing is attached at the real
// root here: the test's subtree plays the machine.
TEST_F(MechanismLimitsTest, HostScopeAtTheRootOfATreeFiltersContainersInIt) {
  if (!ready_) return;
  auto host = AttachHostScope(cgroup_root_, Policy("192.0.2.2", "any"));
  ASSERT_TRUE(host.ok()) << host.status();
  const std::string ctr_path = absl::StrCat(cgroup_root_, "/machine.slice/ctr.scope");
  auto ctr = kernel::Cgroup::CreateOrOpen(ctr_path);
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  auto listen_on = common::SocketAddress::Parse(kServerV4, 0);
  ASSERT_TRUE(listen_on.ok());
  ContainerProcess container(ctr->fd(), srv_->fd(), *listen_on);
  ASSERT_GT(container.pid(), 0);
  ASSERT_NE(container.port(), 0);
  // It lives in the child cgroup and in its own network namespace, not the test's.
  auto where = kernel::CgroupOfProcess(engine_->cgroup2_mount(), container.pid());
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_EQ(*where, ctr_path);
  const ino_t its_netns = Inode(absl::StrCat("/proc/", container.pid(), "/ns/net"));
  EXPECT_EQ(its_netns, Inode(srv_->fd()));
  EXPECT_NE(its_netns, Inode("/proc/self/ns/net"));

  // Served: the allowed peer.
  UniqueFd ok = StartConnect(*cli_, kAllowedV4, kServerV4, container.port());
  ASSERT_EQ(ConnectOutcome(ok.get(), kIo), 0);
  EXPECT_TRUE(Exchange(ok.get(), kIo));

  // The limit: the host lists drop the denied peer's SYN to the container's socket.
  const kernel::ScopeStats before = Stats(*host);
  UniqueFd bad = StartConnect(*cli_, kDeniedV4, kServerV4, container.port());
  ASSERT_TRUE(bad.valid());
  ASSERT_TRUE(WaitDenied(*host, before, Direction::kIngress, 1));
  EXPECT_EQ(ConnectOutcome(bad.get(), kDropped), std::nullopt);
  EXPECT_GE(Stats(*host).allowed[kIngress].packets, 2u);  // the allowed peer's SYN and its byte
}

}  // namespace
}  // namespace gatekeeper::testing
