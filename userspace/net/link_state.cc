#include "net/link_state.h"

#include <linux/if.h>
#include <linux/if_addr.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gatekeeper::net {

bool Link::admin_up() const { return (flags & IFF_UP) != 0; }
bool Link::running() const { return (flags & IFF_RUNNING) != 0; }
bool Link::lower_up() const { return (flags & IFF_LOWER_UP) != 0; }

std::string Link::ToString() const {
  return absl::StrCat(name, " (ifindex ", ifindex, admin_up() ? ", up" : ", down",
                      running() ? ", running" : "", ")");
}

bool AddressInfo::usable() const { return (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) == 0; }

bool AddressInfo::SameKey(const AddressInfo& other) const {
  return address == other.address && prefix_len == other.prefix_len && peer == other.peer;
}

std::string AddressInfo::ToString() const {
  std::string text = absl::StrCat(address.ToString(), "/", prefix_len);
  if (peer) absl::StrAppend(&text, " peer ", peer->ToString());
  if (flags & IFA_F_DADFAILED) {
    absl::StrAppend(&text, " dadfailed");
  } else if (flags & IFA_F_TENTATIVE) {
    absl::StrAppend(&text, " tentative");
  }
  return text;
}

bool LinkState::UpsertLink(const Link& link) {
  auto [it, inserted] = links_.try_emplace(link.ifindex, link);
  if (inserted) return true;
  if (it->second == link) return false;
  it->second = link;
  return true;
}

bool LinkState::RemoveLink(int ifindex) {
  const bool had_addresses = addresses_.erase(ifindex) > 0;
  return links_.erase(ifindex) > 0 || had_addresses;
}

bool LinkState::UpsertAddress(int ifindex, const AddressInfo& address) {
  std::vector<AddressInfo>& list = addresses_[ifindex];
  for (AddressInfo& known : list) {
    if (!known.SameKey(address)) continue;
    if (known == address) return false;
    known = address;
    return true;
  }
  list.push_back(address);
  return true;
}

bool LinkState::RemoveAddress(int ifindex, const AddressInfo& address) {
  auto it = addresses_.find(ifindex);
  if (it == addresses_.end()) return false;
  const size_t removed =
      std::erase_if(it->second, [&](const AddressInfo& known) { return known.SameKey(address); });
  if (it->second.empty()) addresses_.erase(it);
  return removed > 0;
}

std::optional<Link> LinkState::FindLink(std::string_view name) const {
  for (auto it = links_.rbegin(); it != links_.rend(); ++it) {
    if (it->second.name == name) return it->second;
  }
  return std::nullopt;
}

std::vector<Link> LinkState::Links() const {
  std::vector<Link> links;
  links.reserve(links_.size());
  for (const auto& [ifindex, link] : links_) links.push_back(link);
  return links;
}

std::vector<AddressInfo> LinkState::Addresses(std::string_view name, AddressFilter filter) const {
  std::vector<AddressInfo> result;
  // The ifindex comes from the link table at this moment, never from an earlier answer.
  const std::optional<Link> link = FindLink(name);
  if (!link) return result;
  auto it = addresses_.find(link->ifindex);
  if (it == addresses_.end()) return result;
  for (const AddressInfo& a : it->second) {
    if (filter == AddressFilter::kAll || a.usable()) result.push_back(a);
  }
  return result;
}

bool LinkState::HasAddress(std::string_view name, const policy::Address& address) const {
  const std::vector<AddressInfo> usable = Addresses(name, AddressFilter::kUsable);
  return std::any_of(usable.begin(), usable.end(),
                     [&](const AddressInfo& a) { return a.address == address; });
}

std::vector<std::string> DescribeChanges(const LinkState& before, const LinkState& after) {
  std::set<std::string> names;
  for (const Link& link : before.Links()) names.insert(link.name);
  for (const Link& link : after.Links()) names.insert(link.name);

  std::vector<std::string> changes;
  for (const std::string& name : names) {
    const std::optional<Link> old_link = before.FindLink(name);
    const std::optional<Link> new_link = after.FindLink(name);
    if (!new_link) {
      changes.push_back(absl::StrCat("link ", name, " gone (was ifindex ", old_link->ifindex, ")"));
      continue;
    }
    if (!old_link) {
      changes.push_back(absl::StrCat("link ", new_link->ToString(), " appeared"));
    } else if (old_link->ifindex != new_link->ifindex) {
      changes.push_back(absl::StrCat("link ", name, " re-created (ifindex ", old_link->ifindex,
                                     " -> ", new_link->ifindex, ")"));
    } else if (old_link->flags != new_link->flags || old_link->operstate != new_link->operstate) {
      changes.push_back(absl::StrFormat("link %s flags 0x%x -> 0x%x, operstate %d -> %d", name,
                                        old_link->flags, new_link->flags, old_link->operstate,
                                        new_link->operstate));
    }
    std::set<std::string> old_addresses;
    std::set<std::string> new_addresses;
    for (const AddressInfo& a : before.Addresses(name, AddressFilter::kAll)) {
      old_addresses.insert(a.ToString());
    }
    for (const AddressInfo& a : after.Addresses(name, AddressFilter::kAll)) {
      new_addresses.insert(a.ToString());
    }
    for (const std::string& a : old_addresses) {
      if (!new_addresses.contains(a))
        changes.push_back(absl::StrCat(name, ": address ", a, " gone"));
    }
    for (const std::string& a : new_addresses) {
      if (!old_addresses.contains(a))
        changes.push_back(absl::StrCat(name, ": address ", a, " new"));
    }
  }
  return changes;
}

}  // namespace gatekeeper::net
