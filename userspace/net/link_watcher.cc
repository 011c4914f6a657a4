// Why an event socket plus one-shot dumps, and not libnl's cache manager:
// Recovering from an overflow needs three things the cache manager (libnl 3.7) does not give:
// 1. Discarding the events still queued when ENOBUFS is reported. The kernel reports the error
//    *before* the queued messages, and those may predate a dropped one: replaying "address added"
//    after a fresh dump, when its "address removed" was the message dropped, would resurrect the
//    address. Draining until EAGAIN also clears the socket's congested state, without which the
//    kernel stays silent about further drops. nl_cache_mngr_data_ready() just returns the error.
// 2. A dump that replaces the table in one step. nl_cache_resync() edits the live cache in place
//    and drops objects that nl_object_update() merged (they stay marked), and nl_cache_refill()
//    restarts an interrupted dump (NLM_F_DUMP_INTR) without clearing the first pass. Dumping into
//    fresh caches and folding them into a LinkState with upsert semantics collapses such
//    duplicates; whatever a dump still gets wrong was changed after the drain, so the events
//    queued since then (applied next, in order) correct it before on_change runs.
// 3. The diff, for the log: DescribeChanges() on two plain tables.
// libnl still does all of the netlink work: sockets, subscriptions, dumps and message parsing
// (nl_msg_parse into rtnl_link / rtnl_addr objects). The table itself is a LinkState.
#include "net/link_watcher.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/status_macros.h"

namespace gatekeeper::net {
namespace {

struct NlCacheDeleter {
  void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
using NlCachePtr = std::unique_ptr<nl_cache, NlCacheDeleter>;

// A queue of this many datagrams cannot be left over from before an overflow (the biggest buffer
// holds far fewer), so the rest arrived since; the next Process() call goes on draining.
constexpr int kMaxDrainPerCall = 1 << 16;

absl::StatusCode NlToCode(int err) {
  switch (std::abs(err)) {
    case NLE_NOMEM:
      return absl::StatusCode::kResourceExhausted;
    case NLE_PERM:
    case NLE_NOACCESS:
      return absl::StatusCode::kPermissionDenied;
    case NLE_AGAIN:
    case NLE_INTR:
      return absl::StatusCode::kUnavailable;
    case NLE_OPNOTSUPP:
    case NLE_PROTO_MISMATCH:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status NlStatus(int err, absl::string_view what) {
  return {NlToCode(err), absl::StrCat(what, ": ", nl_geterror(err))};
}

std::optional<policy::Address> ToAddress(nl_addr* addr) {
  if (addr == nullptr) return std::nullopt;
  policy::Address result;
  const unsigned len = nl_addr_get_len(addr);
  if (nl_addr_get_family(addr) == AF_INET && len == 4) {
    result.family = policy::Family::kIPv4;
  } else if (nl_addr_get_family(addr) == AF_INET6 && len == 16) {
    result.family = policy::Family::kIPv6;
  } else {
    return std::nullopt;
  }
  std::memcpy(result.bytes.data(), nl_addr_get_binary_addr(addr), len);
  return result;
}

// Bridge and other per-family link messages (AF_BRIDGE RTM_NEWLINK/RTM_DELLINK when a port joins
// or leaves a bridge) describe a facet of a link, not the link: a DELLINK of that kind must not
// make the device disappear. Only AF_UNSPEC messages describe the device itself.
bool IsDeviceMessage(rtnl_link* link) { return rtnl_link_get_family(link) == AF_UNSPEC; }

Link ToLink(rtnl_link* link) {
  const char* name = rtnl_link_get_name(link);
  return Link{.name = name != nullptr ? name : "",
              .ifindex = rtnl_link_get_ifindex(link),
              .flags = rtnl_link_get_flags(link),
              .operstate = rtnl_link_get_operstate(link)};
}

std::optional<AddressInfo> ToAddressInfo(rtnl_addr* addr) {
  std::optional<policy::Address> local = ToAddress(rtnl_addr_get_local(addr));
  if (!local) return std::nullopt;  // neither IPv4 nor IPv6: nothing a listener binds to
  AddressInfo info{.address = *local,
                   .prefix_len = static_cast<uint8_t>(rtnl_addr_get_prefixlen(addr)),
                   .peer = ToAddress(rtnl_addr_get_peer(addr)),
                   .flags = rtnl_addr_get_flags(addr),
                   .scope = static_cast<uint8_t>(rtnl_addr_get_scope(addr))};
  // libnl reports IFA_ADDRESS as the peer only when it differs from IFA_LOCAL; keep it that way
  // for both dumps and events so that the two agree on the key.
  if (info.peer == info.address) info.peer.reset();
  return info;
}

// One full dump of links, then addresses, folded into a table.
absl::StatusOr<LinkState> DumpState(nl_sock* sock) {
  nl_cache* raw = nullptr;
  int err = rtnl_link_alloc_cache(sock, AF_UNSPEC, &raw);
  NlCachePtr links(raw);
  if (err < 0) return NlStatus(err, "dump links (RTM_GETLINK)");
  raw = nullptr;
  err = rtnl_addr_alloc_cache(sock, &raw);
  NlCachePtr addresses(raw);
  if (err < 0) return NlStatus(err, "dump addresses (RTM_GETADDR)");

  LinkState state;
  for (nl_object* obj = nl_cache_get_first(links.get()); obj; obj = nl_cache_get_next(obj)) {
    auto* link = reinterpret_cast<rtnl_link*>(obj);
    if (IsDeviceMessage(link)) state.UpsertLink(ToLink(link));
  }
  for (nl_object* obj = nl_cache_get_first(addresses.get()); obj; obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    if (std::optional<AddressInfo> info = ToAddressInfo(addr)) {
      state.UpsertAddress(rtnl_addr_get_ifindex(addr), *info);
    }
  }
  return state;
}

absl::Status SetReceiveBuffer(int fd, int bytes) {
  // SO_RCVBUFFORCE (CAP_NET_ADMIN) goes past net.core.rmem_max, which is often only 208 KiB.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) == 0) {
    return absl::OkStatus();
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) == 0) {
    return absl::OkStatus();
  }
  return common::ErrnoStatus(errno, absl::StrCat("set rtnetlink receive buffer to ", bytes));
}

}  // namespace

void NlSockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

LinkWatcher::LinkWatcher(std::function<void()> on_change, NlSockPtr events, NlSockPtr dumps)
    : on_change_(std::move(on_change)), events_(std::move(events)), dumps_(std::move(dumps)) {}

LinkWatcher::~LinkWatcher() = default;

absl::StatusOr<std::unique_ptr<LinkWatcher>> LinkWatcher::Create(std::function<void()> on_change,
                                                                 LinkWatcherOptions options) {
  NlSockPtr events(nl_socket_alloc());
  NlSockPtr dumps(nl_socket_alloc());
  if (!events || !dumps) {
    return absl::ResourceExhaustedError("allocate rtnetlink sockets (nl_socket_alloc)");
  }
  std::unique_ptr<LinkWatcher> watcher(
      new LinkWatcher(std::move(on_change), std::move(events), std::move(dumps)));
  nl_sock* ev = watcher->events_.get();

  // Events are not replies to our requests: their sequence numbers mean nothing to us.
  nl_socket_disable_seq_check(ev);
  int err = nl_socket_modify_cb(ev, NL_CB_VALID, NL_CB_CUSTOM, &LinkWatcher::OnEventMessage,
                                watcher.get());
  if (err < 0) return NlStatus(err, "set rtnetlink event callback");
  if ((err = nl_connect(ev, NETLINK_ROUTE)) < 0) {
    return NlStatus(err, "open rtnetlink event socket");
  }
  if (options.rcvbuf_bytes > 0) {
    GK_RETURN_IF_ERROR(SetReceiveBuffer(nl_socket_get_fd(ev), options.rcvbuf_bytes));
  }
  // Subscribe before dumping: a change that lands between the two is then both in the dump and
  // queued as an event, never in neither.
  err = nl_socket_add_memberships(ev, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, 0);
  if (err < 0) return NlStatus(err, "subscribe to rtnetlink link and address events");
  if ((err = nl_socket_set_nonblocking(ev)) < 0) {
    return NlStatus(err, "make rtnetlink event socket non-blocking");
  }

  if ((err = nl_connect(watcher->dumps_.get(), NETLINK_ROUTE)) < 0) {
    return NlStatus(err, "open rtnetlink dump socket");
  }
  GK_ASSIGN_OR_RETURN(watcher->state_, DumpState(watcher->dumps_.get()));
  return watcher;
}

int LinkWatcher::fd() const { return nl_socket_get_fd(events_.get()); }

int LinkWatcher::OnEventMessage(nl_msg* msg, void* self) {
  static_cast<LinkWatcher*>(self)->HandleMessage(msg);
  // Never stop the receive loop: one datagram may carry more than one message.
  return NL_OK;
}

void LinkWatcher::HandleMessage(nl_msg* msg) {
  switch (nlmsg_hdr(msg)->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
    case RTM_NEWADDR:
    case RTM_DELADDR:
      break;
    default:
      return;  // nothing else is sent to these groups that we need
  }
  auto apply = [](nl_object* obj, void* arg) {
    auto* self = static_cast<LinkWatcher*>(arg);
    const int type = nl_object_get_msgtype(obj);
    if (type == RTM_NEWLINK || type == RTM_DELLINK) {
      auto* link = reinterpret_cast<rtnl_link*>(obj);
      if (!IsDeviceMessage(link)) return;
      self->changed_ |= type == RTM_NEWLINK ? self->state_.UpsertLink(ToLink(link))
                                            : self->state_.RemoveLink(rtnl_link_get_ifindex(link));
      return;
    }
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    const std::optional<AddressInfo> info = ToAddressInfo(addr);
    if (!info) return;
    const int ifindex = rtnl_addr_get_ifindex(addr);
    self->changed_ |= type == RTM_NEWADDR ? self->state_.UpsertAddress(ifindex, *info)
                                          : self->state_.RemoveAddress(ifindex, *info);
  };
  if (nl_msg_parse(msg, apply, this) < 0) {
    // A message we could not read leaves the table unreliable; a fresh dump repairs it.
    resync_pending_ = true;
  }
}

absl::Status LinkWatcher::Process() {
  bool resynced = false;
  for (;;) {
    if (resync_pending_) {
      GK_ASSIGN_OR_RETURN(const bool drained, DrainEvents());
      if (!drained) break;
      GK_RETURN_IF_ERROR(Resync());
      resynced = true;
      continue;  // now apply what arrived since the drain, before anyone looks
    }
    const int err = nl_recvmsgs_default(events_.get());
    if (err == -NLE_AGAIN) break;
    if (err == -NLE_NOMEM) {
      // ENOBUFS: the kernel dropped events for us.
      resync_pending_ = true;
      continue;
    }
    if (err < 0) return NlStatus(err, "receive rtnetlink events");
  }
  if (changed_ || resynced) {
    changed_ = false;
    if (on_change_) on_change_();
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> LinkWatcher::DrainEvents() {
  for (int i = 0; i < kMaxDrainPerCall; ++i) {
    // A zero-length read with MSG_TRUNC discards one whole datagram.
    if (::recv(fd(), nullptr, 0, MSG_DONTWAIT | MSG_TRUNC) >= 0) continue;
    switch (errno) {
      case EAGAIN:
        return true;
      case ENOBUFS:  // more drops: all of them older than the dump still to come
      case EINTR:
        continue;
      default:
        return common::ErrnoStatus(errno, "discard queued rtnetlink events");
    }
  }
  return false;
}

absl::Status LinkWatcher::Resync() {
  absl::StatusOr<LinkState> fresh = DumpState(dumps_.get());
  if (!fresh.ok()) {
    return absl::Status(fresh.status().code(), absl::StrCat("resync after lost rtnetlink events: ",
                                                            fresh.status().message()));
  }
  last_resync_changes_ = DescribeChanges(state_, *fresh);
  state_ = *std::move(fresh);
  resync_pending_ = false;
  ++resyncs_;
  return absl::OkStatus();
}

}  // namespace gatekeeper::net
