// Turns the access lists that apply to one scope into the entries its kernel tries take, and
// answers in userspace the verdict the kernel gives for an address.
#ifndef GATEKEEPER_POLICY_COMPILER_H_
#define GATEKEEPER_POLICY_COMPILER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "policy/access_list.h"
#include "policy/address.h"

namespace gatekeeper::policy {

enum class Action : uint8_t { kAllow = 1, kDeny = 2 };

// Rule ids start at 1; 0 means "no entry matched". They index CompiledPolicy::rules (id - 1).
inline constexpr uint32_t kNoRule = 0;

// A kept entry of the lists a policy was compiled from. It points at the entry instead of copying
// it (16 bytes instead of 104, about 90 MB less for a policy of a million prefixes); the policy
// holds the lists' entries (CompiledPolicy::sources), so the pointer stays valid however the lists
// change or go away.
struct Rule {
  uint32_t id = kNoRule;
  Action action = Action::kAllow;
  const Entry* entry = nullptr;  // never null in a compiled policy
};

// One LPM-trie entry. The longest match among these is systemd's verdict.
struct TrieEntry {
  Prefix prefix;
  Action action = Action::kAllow;
  uint32_t rule_id = kNoRule;

  auto operator<=>(const TrieEntry&) const = default;
};

struct CompiledPolicy {
  CompiledPolicy() = default;
  // Copies advise huge pages for a large policy (see huge_pages.h); moves are plain.
  CompiledPolicy(const CompiledPolicy& other);
  CompiledPolicy& operator=(const CompiledPolicy& other);
  CompiledPolicy(CompiledPolicy&&) noexcept = default;
  CompiledPolicy& operator=(CompiledPolicy&&) noexcept = default;

  std::vector<Rule> rules;  // every kept entry, rules[id - 1]
  // The entries of every list a rule points into.
  std::vector<std::shared_ptr<const std::vector<Entry>>> sources;
  // Sorted by address then length (the order batch loading into an LPM trie is fastest in).
  // Covered prefixes of the same list are dropped, and every deny prefix covered by an allow
  // prefix is dropped (allow wins on equal prefixes), so the longest match decides.
  std::vector<TrieEntry> v4;
  std::vector<TrieEntry> v6;

  const Rule* FindRule(uint32_t id) const;
  size_t size() const { return v4.size() + v6.size(); }
};

// Merges the lists of every scope on the path (host first, then the gate), as systemd merges a
// unit's lists with its slices': the allow lists are united, and so are the deny lists.
CompiledPolicy Compile(std::span<const AccessLists* const> scopes);
CompiledPolicy Compile(const AccessLists& lists);

// A compiled policy as its readers share it (the daemon's gate, the denial log naming rules): a
// policy of a million prefixes takes tens of MiB, and none of them changes it once compiled.
using SharedPolicy = std::shared_ptr<const CompiledPolicy>;
inline SharedPolicy Share(CompiledPolicy policy) {
  return std::make_shared<const CompiledPolicy>(std::move(policy));
}

struct Verdict {
  Action action = Action::kAllow;
  const Rule* rule = nullptr;  // nullptr: no entry matched, which allows
};

// The kernel's verdict for a packet whose checked address (source on ingress, destination on
// egress) is `address`, taken literally: IPv4 against v4, IPv6 (mapped ones too) against v6.
// Use PeerAsSeenByKernel() first for addresses reported by a dual-stack socket.
Verdict Evaluate(const CompiledPolicy& policy, const Address& address);

}  // namespace gatekeeper::policy

#endif  // GATEKEEPER_POLICY_COMPILER_H_
