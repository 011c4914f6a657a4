#include "policy/compiler.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "absl/numeric/int128.h"
#include "policy/huge_pages.h"

namespace gatekeeper::policy {
namespace {

absl::uint128 ToUint128(const Address& address) {
  uint64_t hi = 0;
  uint64_t lo = 0;
  for (int i = 0; i < 8; ++i) hi = (hi << 8) | address.bytes[i];
  for (int i = 8; i < 16; ++i) lo = (lo << 8) | address.bytes[i];
  return absl::MakeUint128(hi, lo);
}

// The top `length` bits set. Lengths past 128 only come from hand-built prefixes; treat them as
// whole addresses instead of shifting out of range.
absl::uint128 Mask(int length) {
  if (length <= 0) return 0;
  if (length >= 128) return ~absl::uint128(0);
  return ~absl::uint128(0) << (128 - length);
}

int CommonLeadingBits(const Address& a, const Address& b) {
  absl::uint128 diff = ToUint128(a) ^ ToUint128(b);
  if (diff == 0) return 128;
  uint64_t hi = absl::Uint128High64(diff);
  if (hi != 0) return std::countl_zero(hi);
  return 64 + std::countl_zero(absl::Uint128Low64(diff));
}

// An entry reduced to what sorting and covering need, in 24 bytes. On a large policy, Compile's
// time goes mostly into memory it touches for the first time (the Rules it must return are
// ~170 bytes each), so the scratch space is kept small, and the sort compares integers.
struct Key {
  uint64_t hi;
  uint64_t lo;
  // Position in the concatenation of all allow lists, then all deny lists (host first): the
  // first assigned of equal prefixes wins, and it leads back to the Entry.
  uint32_t seq;
  Family family;
  uint8_t length;

  absl::uint128 address() const { return absl::MakeUint128(hi, lo); }
};
static_assert(sizeof(Key) == 24);

// Orders by prefix only (family, address, length), as the tries and Reduce() do.
bool PrefixLess(const Key& a, const Key& b) {
  if (a.family != b.family) return a.family < b.family;
  if (a.hi != b.hi) return a.hi < b.hi;
  if (a.lo != b.lo) return a.lo < b.lo;
  return a.length < b.length;
}

bool Covers(const Key& outer, const Key& inner) {
  return outer.family == inner.family && outer.length <= inner.length &&
         ((outer.address() ^ inner.address()) & Mask(outer.length)) == 0;
}

void AppendKeys(const AddressList& list, uint32_t& seq, std::vector<Key>& out) {
  for (const Entry& entry : list.entries()) {
    absl::uint128 address = ToUint128(entry.prefix.address);
    out.push_back(Key{.hi = absl::Uint128High64(address),
                      .lo = absl::Uint128Low64(address),
                      .seq = seq++,
                      .family = entry.prefix.address.family,
                      .length = entry.prefix.length});
  }
}

bool KeyLess(const Key& a, const Key& b) {
  if (PrefixLess(a, b)) return true;
  if (PrefixLess(b, a)) return false;
  return a.seq < b.seq;
}

// Sorts by prefix, then seq. Lists are often written in order (generated ones nearly always), and
// the keys of a few such lists form a few sorted runs, which merge in linear time: sorting a
// million sorted keys again would be most of Compile's work. Other input is sorted as usual, after
// a look at the first few runs.
void SortKeys(std::vector<Key>& keys) {
  constexpr size_t kMaxRuns = 8;
  std::vector<size_t> run_ends;
  for (size_t i = 1; i < keys.size(); ++i) {
    if (!KeyLess(keys[i], keys[i - 1])) continue;
    if (run_ends.size() == kMaxRuns) {
      std::sort(keys.begin(), keys.end(), KeyLess);
      return;
    }
    run_ends.push_back(i);
  }
  run_ends.push_back(keys.size());
  while (run_ends.size() > 1) {
    std::vector<size_t> merged;
    size_t begin = 0;
    for (size_t r = 0; r < run_ends.size(); r += 2) {
      if (r + 1 == run_ends.size()) {
        merged.push_back(run_ends[r]);
        break;
      }
      std::inplace_merge(keys.begin() + static_cast<std::ptrdiff_t>(begin),
                         keys.begin() + static_cast<std::ptrdiff_t>(run_ends[r]),
                         keys.begin() + static_cast<std::ptrdiff_t>(run_ends[r + 1]), KeyLess);
      merged.push_back(run_ends[r + 1]);
      begin = run_ends[r + 1];
    }
    run_ends = std::move(merged);
  }
}

// Same result as Reduce(), without copying entries.
void ReduceKeys(std::vector<Key>& keys) {
  SortKeys(keys);
  // Every prefix sorts after the prefixes covering it, and kept prefixes are pairwise disjoint,
  // so only the last kept one can cover the next: the sweep needs no stack.
  size_t kept = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (kept > 0 && Covers(keys[kept - 1], keys[i])) continue;
    keys[kept++] = keys[i];
  }
  keys.resize(kept);
}

// Drops every deny covered by an allow. Both are reduced, so the allows are disjoint and sorted,
// and the only allow that can cover a deny is the last one not sorting after it.
void DropDeniesCoveredByAllows(const std::vector<Key>& allows, std::vector<Key>& denies) {
  size_t next_allow = 0;
  size_t kept = 0;
  for (size_t i = 0; i < denies.size(); ++i) {
    while (next_allow < allows.size() && !PrefixLess(denies[i], allows[next_allow])) {
      ++next_allow;
    }
    if (next_allow > 0 && Covers(allows[next_allow - 1], denies[i])) continue;
    denies[kept++] = denies[i];
  }
  denies.resize(kept);
}

// The seqs of the kept keys, and each one's rank among them, which is its rule id - 1. A bit per
// seq keeps the lookups in sorted order, which jump around, within the cache: an array of ids
// would be 4 MB for a million entries.
class KeptSeqs {
 public:
  explicit KeptSeqs(size_t seqs) : bits_((seqs + 63) / 64), rank_before_(bits_.size()) {}

  void Add(uint32_t seq) { bits_[seq / 64] |= uint64_t{1} << (seq % 64); }
  // After the last Add().
  void Count() {
    uint32_t total = 0;
    for (size_t i = 0; i < bits_.size(); ++i) {
      rank_before_[i] = total;
      total += static_cast<uint32_t>(std::popcount(bits_[i]));
    }
  }
  bool Contains(uint32_t seq) const { return (bits_[seq / 64] >> (seq % 64)) & 1; }
  // How many kept seqs are smaller than `seq`.
  uint32_t Rank(uint32_t seq) const {
    const uint64_t below = (uint64_t{1} << (seq % 64)) - 1;
    return rank_before_[seq / 64] + static_cast<uint32_t>(std::popcount(bits_[seq / 64] & below));
  }

 private:
  std::vector<uint64_t> bits_;
  std::vector<uint32_t> rank_before_;
};

Prefix ToPrefix(const Key& key) {
  Prefix prefix;
  prefix.address.family = key.family;
  uint64_t hi = key.hi;
  uint64_t lo = key.lo;
  for (int i = 7; i >= 0; --i, hi >>= 8) prefix.address.bytes[i] = static_cast<uint8_t>(hi);
  for (int i = 15; i >= 8; --i, lo >>= 8) prefix.address.bytes[i] = static_cast<uint8_t>(lo);
  prefix.length = key.length;
  return prefix;
}

}  // namespace

CompiledPolicy::CompiledPolicy(const CompiledPolicy& other) { *this = other; }

CompiledPolicy& CompiledPolicy::operator=(const CompiledPolicy& other) {
  CopyWithHugePages(rules, other.rules);
  CopyWithHugePages(v4, other.v4);
  CopyWithHugePages(v6, other.v6);
  sources = other.sources;  // the rules point into the same entries
  return *this;
}

const Rule* CompiledPolicy::FindRule(uint32_t id) const {
  if (id == kNoRule || id > rules.size()) return nullptr;
  return &rules[id - 1];
}

CompiledPolicy Compile(std::span<const AccessLists* const> scopes) {
  // The lists in seq order; Key::seq counts through them.
  std::vector<std::pair<const AddressList*, Action>> lists;
  size_t allow_count = 0;
  size_t deny_count = 0;
  for (const AccessLists* scope : scopes) {
    if (scope == nullptr) throw std::invalid_argument("Compile: null scope");
    lists.emplace_back(&scope->allow, Action::kAllow);
    allow_count += scope->allow.entries().size();
  }
  for (const AccessLists* scope : scopes) {
    lists.emplace_back(&scope->deny, Action::kDeny);
    deny_count += scope->deny.entries().size();
  }
  if (allow_count + deny_count >= UINT32_MAX) {
    throw std::length_error("Compile: 2^32 entries or more");
  }

  std::vector<Key> allows;
  std::vector<Key> denies;
  allows.reserve(allow_count);
  denies.reserve(deny_count);
  AdviseHugePages(allows);
  AdviseHugePages(denies);
  uint32_t seq = 0;
  for (const auto& [list, action] : lists) {
    AppendKeys(*list, seq, action == Action::kAllow ? allows : denies);
  }

  ReduceKeys(allows);
  ReduceKeys(denies);
  DropDeniesCoveredByAllows(allows, denies);

  // Rules are numbered in assignment order (allows first), which walks the entries sequentially:
  // copying them in sorted order would jump to a random Entry for every rule.
  KeptSeqs kept(allow_count + deny_count);
  for (const auto* keys : {&allows, &denies}) {
    for (const Key& key : *keys) kept.Add(key.seq);
  }
  kept.Count();
  CompiledPolicy policy;
  policy.rules.reserve(allows.size() + denies.size());
  AdviseHugePages(policy.rules);
  seq = 0;
  for (const auto& [list, action] : lists) {
    const size_t before = policy.rules.size();
    for (const Entry& entry : list->entries()) {
      if (!kept.Contains(seq++)) continue;
      const auto id = static_cast<uint32_t>(policy.rules.size() + 1);
      policy.rules.push_back(Rule{.id = id, .action = action, .entry = &entry});
    }
    if (policy.rules.size() > before) policy.sources.push_back(list->SharedEntries());
  }

  size_t v4_count = 0;
  for (const auto* keys : {&allows, &denies}) {
    for (const Key& key : *keys) v4_count += key.family == Family::kIPv4;
  }
  policy.v4.reserve(v4_count);
  policy.v6.reserve(allows.size() + denies.size() - v4_count);
  AdviseHugePages(policy.v4);
  AdviseHugePages(policy.v6);
  // Both lists are sorted by family, address, length and never share a prefix, so one merge
  // yields each family's entries in trie-loading order.
  size_t a = 0;
  size_t d = 0;
  while (a < allows.size() || d < denies.size()) {
    bool take_allow = d == denies.size() || (a < allows.size() && PrefixLess(allows[a], denies[d]));
    const Key& key = take_allow ? allows[a++] : denies[d++];
    TrieEntry entry{.prefix = ToPrefix(key),
                    .action = take_allow ? Action::kAllow : Action::kDeny,
                    .rule_id = kept.Rank(key.seq) + 1};
    (key.family == Family::kIPv4 ? policy.v4 : policy.v6).push_back(entry);
  }
  return policy;
}

CompiledPolicy Compile(const AccessLists& lists) {
  const AccessLists* scopes[] = {&lists};
  return Compile(scopes);
}

Verdict Evaluate(const CompiledPolicy& policy, const Address& address) {
  const std::vector<TrieEntry>& entries = address.family == Family::kIPv4 ? policy.v4 : policy.v6;
  // The longest match is found by walking predecessors: the last entry sorting at or before
  // (address masked to `bound`, bound) is the longest match if it contains the address; if not,
  // any match must cover that entry, so its length is bounded by the bits the entry shares with
  // the address, and the search repeats below that. `bound` shrinks every round, so this is at
  // most width + 1 binary searches, like one search per prefix length; a hit usually takes one,
  // a miss among a million random prefixes about ten.
  int bound = address.bit_width();
  auto end = entries.end();
  while (bound >= 0) {
    const Prefix query = Prefix::Make(address, static_cast<uint8_t>(bound));
    auto it =
        std::upper_bound(entries.begin(), end, query,
                         [](const Prefix& q, const TrieEntry& entry) { return q < entry.prefix; });
    if (it == entries.begin()) break;
    end = std::prev(it);  // the next query sorts before this candidate
    const TrieEntry& candidate = *end;
    if (candidate.prefix.Contains(address)) {
      return Verdict{.action = candidate.action, .rule = policy.FindRule(candidate.rule_id)};
    }
    int next = std::min(CommonLeadingBits(candidate.prefix.address, address),
                        static_cast<int>(candidate.prefix.length) - 1);
    bound = std::min(next, bound - 1);
  }
  return Verdict{};
}

}  // namespace gatekeeper::policy
