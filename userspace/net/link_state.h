// The link and address table that LinkWatcher keeps up to date, as plain values: libnl parses
// the kernel's messages, this applies them and answers the gates' questions. Kept free of libnl so
// that the rules below are unit-tested without root:
// - interfaces are looked up by NAME at query time; an ifindex is only a key inside the table and
//   is forgotten, with every address recorded under it, when its link is deleted;
// - IPv6 addresses still tentative, or whose duplicate address detection failed, are not usable.
#ifndef GATEKEEPER_NET_LINK_STATE_H_
#define GATEKEEPER_NET_LINK_STATE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/address.h"

namespace gatekeeper::net {

struct Link {
  std::string name;
  int ifindex = 0;
  uint32_t flags = 0;     // IFF_* as the kernel reports them (ifi_flags)
  uint8_t operstate = 0;  // IF_OPER_* (RFC 2863), 0 = unknown

  // IFF_UP: administratively up (`ip link set X up`).
  bool admin_up() const;
  // IFF_RUNNING: operationally up. The kernel sets it for operstate UP *and* UNKNOWN, and a
  // WireGuard or TUN device never leaves UNKNOWN, so this (not `operstate == IF_OPER_UP`) is the
  // test that works for wg0. Unlike IFF_LOWER_UP (carrier only) it is also off while the device is
  // dormant or its lower device is down, i.e. when it cannot pass traffic.
  bool running() const;
  // IFF_LOWER_UP: carrier.
  bool lower_up() const;
  std::string ToString() const;

  bool operator==(const Link&) const = default;
};

struct AddressInfo {
  policy::Address address;  // the local address (IFA_LOCAL, else IFA_ADDRESS)
  uint8_t prefix_len = 0;
  // The far end of a point-to-point address (`ip addr add A peer B`), which the kernel keys on too.
  std::optional<policy::Address> peer;
  uint32_t flags = 0;  // IFA_F_*
  uint8_t scope = 0;   // RT_SCOPE_*

  // False while an IPv6 address is tentative (duplicate address detection running: bind() fails
  // with EADDRNOTAVAIL) or after DAD failed. Optimistic addresses (IFA_F_OPTIMISTIC) carry the
  // tentative flag as well and count as absent too: waiting the DAD round costs a second, binding
  // an address another host may own costs more.
  bool usable() const;
  // Whether `other` is the same kernel address (what RTM_DELADDR names), whatever its flags.
  bool SameKey(const AddressInfo& other) const;
  std::string ToString() const;  // "192.0.2.1/24", "2001:db8::1/64 tentative"

  bool operator==(const AddressInfo&) const = default;
};

enum class AddressFilter {
  kUsable,  // what a listener can bind to now
  kAll,     // also tentative and DAD-failed ones (for status output and tests)
};

class LinkState {
 public:
  // Each returns whether the table changed.
  bool UpsertLink(const Link& link);
  // Also forgets the addresses recorded under the ifindex, so that a later link that gets the same
  // ifindex (the kernel may reuse one, and `ip link add ... index N` does) never inherits them.
  bool RemoveLink(int ifindex);
  bool UpsertAddress(int ifindex, const AddressInfo& address);
  bool RemoveAddress(int ifindex, const AddressInfo& address);

  // The link called `name` now. Names are unique in a consistent table; while a burst of events is
  // half applied two entries may briefly share one, and the newest (highest ifindex) wins.
  std::optional<Link> FindLink(std::string_view name) const;
  std::vector<Link> Links() const;  // ordered by ifindex
  // The addresses of the link called `name` now (none when there is no such link).
  std::vector<AddressInfo> Addresses(std::string_view name,
                                     AddressFilter filter = AddressFilter::kUsable) const;
  bool HasAddress(std::string_view name, const policy::Address& address) const;

  size_t link_count() const { return links_.size(); }

  bool operator==(const LinkState&) const = default;

 private:
  std::map<int, Link> links_;
  // Keyed by ifindex, not by name: address messages carry only the ifindex.
  std::map<int, std::vector<AddressInfo>> addresses_;
};

// What an observer of `before` would notice in `after`, by interface name, one line per change
// ("link wg0 re-created (ifindex 5 -> 9)", "wg0: address 192.0.2.1/24 gone"). Empty when the two
// look the same through the queries above. Used to log what a resync after an overflow repaired.
std::vector<std::string> DescribeChanges(const LinkState& before, const LinkState& after);

}  // namespace gatekeeper::net

#endif  // GATEKEEPER_NET_LINK_STATE_H_
