#include "kernel/sock_destroy.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace gatekeeper::kernel {
namespace {

using common::ErrnoStatus;
using common::SocketAddress;
using common::UniqueFd;

// States of a connection with a peer at the other end. LISTEN has no peer; SYN_SENT gets no
// reset from tcp_abort and its retransmitted SYNs are dropped by egress anyway; TIME_WAIT
// sockets are not full sockets and carry no cgroup.
constexpr uint32_t kConnectedStates =
    (1u << TCP_ESTABLISHED) | (1u << TCP_SYN_RECV) | (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) |
    (1u << TCP_CLOSE_WAIT) | (1u << TCP_LAST_ACK) | (1u << TCP_CLOSING);

// Dump parts are at most 32 KiB (the kernel sizes them from our receive calls); twice that leaves
// room, and MSG_TRUNC catches anything larger rather than losing sockets silently.
constexpr size_t kReceiveBytes = size_t{64} * 1024;

const char* FamilyName(int family) { return family == AF_INET ? "IPv4" : "IPv6"; }

// nlmsghdr + inet_diag_req_v2 + optional attributes, in one buffer.
std::vector<uint8_t> Request(uint16_t type, uint16_t flags, uint32_t seq,
                             const inet_diag_req_v2& req, std::span<const uint8_t> attrs = {}) {
  std::vector<uint8_t> msg(NLMSG_SPACE(sizeof(req)) + attrs.size());
  nlmsghdr hdr{};
  hdr.nlmsg_len = static_cast<uint32_t>(msg.size());
  hdr.nlmsg_type = type;
  hdr.nlmsg_flags = flags;
  hdr.nlmsg_seq = seq;
  std::memcpy(msg.data(), &hdr, sizeof(hdr));
  std::memcpy(msg.data() + NLMSG_HDRLEN, &req, sizeof(req));
  if (!attrs.empty()) {
    std::memcpy(msg.data() + NLMSG_SPACE(sizeof(req)), attrs.data(), attrs.size());
  }
  return msg;
}

// INET_DIAG_REQ_BYTECODE holding one INET_DIAG_BC_CGROUP_COND: on a match, jump to the end
// (accept); otherwise jump 4 bytes past it (reject), which is how inet_diag bytecode says no.
std::vector<uint8_t> CgroupFilter(uint64_t cgroup_id) {
  constexpr size_t kOpLen = sizeof(inet_diag_bc_op) + sizeof(uint64_t);
  const inet_diag_bc_op op{.code = INET_DIAG_BC_CGROUP_COND,
                           .yes = static_cast<unsigned char>(kOpLen),
                           .no = static_cast<uint16_t>(kOpLen + 4)};
  nlattr attr{.nla_len = static_cast<uint16_t>(NLA_HDRLEN + kOpLen),
              .nla_type = INET_DIAG_REQ_BYTECODE};
  std::vector<uint8_t> out(NLA_ALIGN(attr.nla_len));
  std::memcpy(out.data(), &attr, sizeof(attr));
  std::memcpy(out.data() + NLA_HDRLEN, &op, sizeof(op));
  std::memcpy(out.data() + NLA_HDRLEN + sizeof(op), &cgroup_id, sizeof(cgroup_id));
  return out;
}

absl::Status Send(int fd, const std::vector<uint8_t>& msg, const std::string& what) {
  sockaddr_nl kernel{.nl_family = AF_NETLINK};
  for (;;) {
    const ssize_t n = ::sendto(fd, msg.data(), msg.size(), 0,
                               reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
    if (n == static_cast<ssize_t>(msg.size())) return absl::OkStatus();
    if (n < 0 && errno == EINTR) continue;
    return ErrnoStatus(n < 0 ? errno : EMSGSIZE, absl::StrCat(what, ": send"));
  }
}

// Reads replies to `seq` and hands each message to `on_message` until it returns true (done).
// Netlink errors come back as their errno; `what` names the request in every error.
absl::Status Receive(int fd, uint32_t seq, const std::string& what,
                     const std::function<absl::StatusOr<bool>(const nlmsghdr&)>& on_message) {
  std::vector<uint64_t> buffer(kReceiveBytes / sizeof(uint64_t));  // aligned for nlmsghdr
  for (;;) {
    const ssize_t n = ::recv(fd, buffer.data(), kReceiveBytes, MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat(what, ": receive"));
    }
    if (static_cast<size_t>(n) > kReceiveBytes) {
      return ErrnoStatus(EMSGSIZE, absl::StrCat(what, ": receive a ", n, "-byte reply"));
    }
    int len = static_cast<int>(n);
    for (const auto* h = reinterpret_cast<const nlmsghdr*>(buffer.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;  // a stale reply to an earlier request
      GK_ASSIGN_OR_RETURN(const bool done, on_message(*h));
      if (done) return absl::OkStatus();
    }
  }
}

// The error carried by NLMSG_ERROR (0 for an ACK) or by NLMSG_DONE (dumps may end with one).
int ReplyError(const nlmsghdr& h) {
  if (h.nlmsg_type == NLMSG_ERROR) {
    if (h.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EBADMSG;
    nlmsgerr err;
    std::memcpy(&err, NLMSG_DATA(&h), sizeof(err));
    return -err.error;
  }
  if (h.nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
    int err;
    std::memcpy(&err, NLMSG_DATA(&h), sizeof(err));
    return -err;
  }
  return 0;
}

SocketAddress ToSocketAddress(uint8_t family, const __be32 (&addr)[4], __be16 port,
                              uint32_t ifindex) {
  SocketAddress out;
  in6_addr a6;
  std::memcpy(&a6, addr, sizeof(a6));
  if (family == AF_INET || IN6_IS_ADDR_V4MAPPED(&a6)) {
    // The programs match a dual-stack socket's IPv4 traffic against the IPv4 lists.
    auto* s4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    s4->sin_family = AF_INET;
    s4->sin_port = port;
    std::memcpy(&s4->sin_addr, family == AF_INET ? &addr[0] : &addr[3], sizeof(s4->sin_addr));
    out.length = sizeof(*s4);
    return out;
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  s6->sin6_family = AF_INET6;
  s6->sin6_port = port;
  s6->sin6_addr = a6;
  if (IN6_IS_ADDR_LINKLOCAL(&a6)) s6->sin6_scope_id = ifindex;
  out.length = sizeof(*s6);
  return out;
}

// Dumps the cgroup's connected TCP sockets of one family; appends the chosen ones to `chosen`.
absl::Status Collect(int fd, uint8_t family, uint64_t cgroup_id, uint32_t seq,
                     const TcpConnectionFilter& should_destroy,
                     std::vector<inet_diag_msg>& chosen) {
  const std::string what =
      absl::StrCat("dump the TCP/", FamilyName(family), " sockets of cgroup ", cgroup_id);
  inet_diag_req_v2 req{};
  req.sdiag_family = family;
  req.sdiag_protocol = IPPROTO_TCP;
  req.idiag_states = kConnectedStates;
  GK_RETURN_IF_ERROR(Send(
      fd,
      Request(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, req, CgroupFilter(cgroup_id)),
      what));
  return Receive(fd, seq, what, [&](const nlmsghdr& h) -> absl::StatusOr<bool> {
    if (h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR) {
      if (const int err = ReplyError(h); err != 0) {
        // EINVAL here is most likely a kernel older than 5.9 refusing the cgroup condition.
        return ErrnoStatus(err, what);
      }
      return h.nlmsg_type == NLMSG_DONE;
    }
    if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY || h.nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
      return false;
    }
    inet_diag_msg msg;
    std::memcpy(&msg, NLMSG_DATA(&h), sizeof(msg));
    const SocketAddress local =
        ToSocketAddress(msg.idiag_family, msg.id.idiag_src, msg.id.idiag_sport, msg.id.idiag_if);
    const SocketAddress peer =
        ToSocketAddress(msg.idiag_family, msg.id.idiag_dst, msg.id.idiag_dport, msg.id.idiag_if);
    if (should_destroy(local, peer)) chosen.push_back(msg);
    return false;
  });
}

// SOCK_DESTROY of one socket, named by its address tuple and cookie (a new socket reusing the
// tuple has another cookie, so it cannot be hit by mistake). False when it is already gone.
absl::StatusOr<bool> Destroy(int fd, const inet_diag_msg& msg, uint32_t seq) {
  const std::string what = absl::StrCat(
      "destroy the TCP connection ",
      ToSocketAddress(msg.idiag_family, msg.id.idiag_src, msg.id.idiag_sport, msg.id.idiag_if)
          .ToString(),
      " <-> ",
      ToSocketAddress(msg.idiag_family, msg.id.idiag_dst, msg.id.idiag_dport, msg.id.idiag_if)
          .ToString());
  inet_diag_req_v2 req{};
  req.sdiag_family = msg.idiag_family;  // AF_INET6 with mapped addresses finds IPv4 too
  req.sdiag_protocol = IPPROTO_TCP;
  req.idiag_states = ~0u;
  req.id = msg.id;
  GK_RETURN_IF_ERROR(Send(fd, Request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, seq, req), what));
  bool destroyed = false;
  GK_RETURN_IF_ERROR(Receive(fd, seq, what, [&](const nlmsghdr& h) -> absl::StatusOr<bool> {
    if (h.nlmsg_type != NLMSG_ERROR) return false;
    const int err = ReplyError(h);
    if (err != 0 && err != ENOENT) return ErrnoStatus(err, what);
    destroyed = err == 0;
    return true;
  }));
  return destroyed;
}

}  // namespace

absl::StatusOr<size_t> DestroyTcpSockets(uint64_t cgroup_id,
                                         const TcpConnectionFilter& should_destroy) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd) return ErrnoStatus(errno, "open a NETLINK_SOCK_DIAG socket");
  uint32_t seq = 0;
  // Collect first, destroy after: a request sent while a dump is still being read would have its
  // reply interleaved with the dump's parts.
  std::vector<inet_diag_msg> chosen;
  for (const int family : {AF_INET, AF_INET6}) {
    GK_RETURN_IF_ERROR(
        Collect(fd.get(), static_cast<uint8_t>(family), cgroup_id, ++seq, should_destroy, chosen));
  }
  size_t destroyed = 0;
  for (const inet_diag_msg& msg : chosen) {
    GK_ASSIGN_OR_RETURN(const bool gone, Destroy(fd.get(), msg, ++seq));
    destroyed += gone ? 1 : 0;
  }
  return destroyed;
}

}  // namespace gatekeeper::kernel
