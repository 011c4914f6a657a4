// Follows the kernel's links and addresses over rtnetlink (libnl-route-3) so that a gate can bind
// the moment its device and address exist, instead of relying on boot order.
//
// Driven by the caller's event loop: poll fd() for POLLIN and call Process(). Not thread-safe; one
// thread owns it. It watches the network namespace of the thread that called Create(), whichever
// thread uses it later (netlink sockets stay bound to the namespace they were created in).
#ifndef GATEKEEPER_NET_LINK_WATCHER_H_
#define GATEKEEPER_NET_LINK_WATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "net/link_state.h"
#include "policy/address.h"

struct nl_msg;
struct nl_sock;

namespace gatekeeper::net {

struct NlSockDeleter {
  void operator()(nl_sock* sock) const;
};
using NlSockPtr = std::unique_ptr<nl_sock, NlSockDeleter>;

struct LinkWatcherOptions {
  // Receive buffer of the event socket (SO_RCVBUFFORCE, else SO_RCVBUF up to rmem_max; the kernel
  // doubles it). Big enough that a burst (a host bringing up hundreds of veths) does not overflow;
  // an overflow is recovered anyway, at the cost of a full dump. Tests pass a tiny value to force
  // one. 0 keeps libnl's default (32 KiB).
  int rcvbuf_bytes = 4 << 20;
};

class LinkWatcher {
 public:
  // Subscribes to link and IPv4/IPv6 address events, then dumps the current links and addresses
  // (in that order, so nothing that happens in between is missed). `on_change` runs at the end of
  // a Process() call that changed the table or resynchronised it; it may query the watcher but
  // must neither call Process() nor destroy the watcher.
  static absl::StatusOr<std::unique_ptr<LinkWatcher>> Create(std::function<void()> on_change,
                                                             LinkWatcherOptions options = {});
  ~LinkWatcher();
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  // Readable (POLLIN, or POLLERR after an overflow) when Process() has work. Stays the same fd for
  // the watcher's lifetime.
  int fd() const;

  // Applies every queued event without waiting for more. When the socket overflowed (ENOBUFS,
  // which libnl reports as -NLE_NOMEM) events were lost: it drops what is still queued, dumps the
  // kernel's tables afresh and replaces its own with them (see resyncs(), last_resync_changes()).
  // A failed resync leaves the old table in place and is retried by the next call. The dump is a
  // synchronous request on a second socket: a kernel round trip, never a wait for an event.
  absl::Status Process();

  // How many times an overflow (or a message libnl could not parse) forced a full dump.
  uint64_t resyncs() const { return resyncs_; }
  // What the last resync found different from the table it replaced (for the log).
  const std::vector<std::string>& last_resync_changes() const { return last_resync_changes_; }

  std::optional<Link> FindLink(std::string_view name) const { return state_.FindLink(name); }
  std::vector<Link> Links() const { return state_.Links(); }
  // By interface name: the ifindex is looked up in the current link table on every call.
  bool HasAddress(std::string_view ifname, const policy::Address& address) const {
    return state_.HasAddress(ifname, address);
  }
  std::vector<AddressInfo> Addresses(std::string_view ifname,
                                     AddressFilter filter = AddressFilter::kUsable) const {
    return state_.Addresses(ifname, filter);
  }
  const LinkState& state() const { return state_; }

 private:
  LinkWatcher(std::function<void()> on_change, NlSockPtr events, NlSockPtr dumps);

  static int OnEventMessage(nl_msg* msg, void* self);
  void HandleMessage(nl_msg* msg);
  // Discards the queued events, which may predate a dropped one (see the .cc); false when it
  // stopped early because events keep coming.
  absl::StatusOr<bool> DrainEvents();
  absl::Status Resync();

  std::function<void()> on_change_;
  NlSockPtr events_;  // non-blocking, subscribed to the groups, only ever read by Process()
  NlSockPtr dumps_;   // blocking request/response socket for full dumps, no multicast
  LinkState state_;
  bool changed_ = false;
  bool resync_pending_ = false;
  uint64_t resyncs_ = 0;
  std::vector<std::string> last_resync_changes_;
};

}  // namespace gatekeeper::net

#endif  // GATEKEEPER_NET_LINK_WATCHER_H_
