// Feeds arbitrary text to the access-list parser and checks the compiled policy against systemd's
// rule evaluated by brute force over the raw lists.
//
// The whole input is one token for ParseToken and one assignment value; it is also split into
// lines, each an assignment to one of the four lists of a host and a gate scope in turn, so that
// accumulation, resets and merging are exercised too.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "policy/access_list.h"
#include "policy/address.h"
#include "policy/compiler.h"
#include "tests/fuzz/fuzz_check.h"

namespace gatekeeper::policy {
namespace {

// Quadratic checks only run below this many entries, to keep executions fast.
constexpr size_t kQuadraticLimit = 300;
constexpr size_t kMaxAddresses = 64;

void CheckPrefix(const Prefix& p) {
  FUZZ_CHECK(p.address.family == Family::kIPv4 || p.address.family == Family::kIPv6);
  FUZZ_CHECK(p.length <= p.address.bit_width());
  FUZZ_CHECK(Prefix::Make(p.address, p.length) == p);  // host bits (and the IPv4 tail) clear
  // What ToString prints must parse back to the same prefix.
  std::vector<Prefix> again;
  FUZZ_CHECK(ParseToken(p.ToString(), again).ok());
  FUZZ_CHECK(again.size() == 1 && again[0] == p);
}

void CheckError(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  FUZZ_CHECK(absl::StartsWith(status.message(), "invalid address prefix \""));
}

bool SameEntries(const std::vector<Entry>& a, const std::vector<Entry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].prefix != b[i].prefix || a[i].token != b[i].token) return false;
  }
  return true;
}

// Applies one assignment and checks all-or-nothing, accumulation and reset.
void AssignAndCheck(AddressList& list, std::string_view value, int line) {
  std::vector<Entry> before = list.entries();
  Origin origin;
  origin.file = "fuzz";
  origin.line = line;
  origin.key = "K";
  absl::Status status = list.Assign(value, origin);
  if (!status.ok()) {
    CheckError(status);
    FUZZ_CHECK(SameEntries(before, list.entries()));
    return;
  }
  bool blank = value.find_first_not_of(" \t\n\r") == std::string_view::npos;
  if (blank) {
    FUZZ_CHECK(list.empty());
    return;
  }
  FUZZ_CHECK(list.entries().size() > before.size());
  for (size_t i = 0; i < list.entries().size(); ++i) {
    const Entry& e = list.entries()[i];
    if (i < before.size()) {
      FUZZ_CHECK(e.prefix == before[i].prefix && e.token == before[i].token);
      continue;
    }
    CheckPrefix(e.prefix);
    FUZZ_CHECK(!e.token.empty());
    FUZZ_CHECK(e.token.find_first_of(" \t\n\r") == std::string::npos);
    FUZZ_CHECK(value.find(e.token) != std::string_view::npos);
    FUZZ_CHECK(e.origin.line == line);
  }
}

void CheckReduce(const std::vector<Entry>& entries) {
  std::vector<Entry> reduced = Reduce(entries);
  FUZZ_CHECK(reduced.size() <= entries.size());
  FUZZ_CHECK(entries.empty() == reduced.empty());
  for (size_t i = 1; i < reduced.size(); ++i) {
    FUZZ_CHECK(reduced[i - 1].prefix < reduced[i].prefix);
    FUZZ_CHECK(!reduced[i - 1].prefix.Covers(reduced[i].prefix));
  }
  if (entries.size() > kQuadraticLimit) return;
  for (const Entry& e : entries) {
    bool covered = false;
    for (const Entry& r : reduced) covered = covered || r.prefix.Covers(e.prefix);
    FUZZ_CHECK(covered);
  }
  for (size_t i = 0; i < reduced.size(); ++i) {
    for (size_t j = 0; j < reduced.size(); ++j) {
      FUZZ_CHECK(i == j || !reduced[i].prefix.Covers(reduced[j].prefix));
    }
  }
}

void CheckCompiled(const CompiledPolicy& policy, size_t input_entries) {
  FUZZ_CHECK(policy.size() == policy.rules.size());
  FUZZ_CHECK(policy.rules.size() <= input_entries);
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    FUZZ_CHECK(policy.rules[i].id == i + 1);
    FUZZ_CHECK(policy.FindRule(i + 1) == &policy.rules[i]);
  }
  FUZZ_CHECK(policy.FindRule(kNoRule) == nullptr);
  FUZZ_CHECK(policy.FindRule(policy.rules.size() + 1) == nullptr);

  std::vector<int> uses(policy.rules.size(), 0);
  for (Family family : {Family::kIPv4, Family::kIPv6}) {
    const std::vector<TrieEntry>& entries = family == Family::kIPv4 ? policy.v4 : policy.v6;
    for (size_t i = 0; i < entries.size(); ++i) {
      const TrieEntry& e = entries[i];
      FUZZ_CHECK(e.prefix.address.family == family);
      CheckPrefix(e.prefix);
      if (i > 0) FUZZ_CHECK(entries[i - 1].prefix < e.prefix);  // sorted, no duplicates
      const Rule* rule = policy.FindRule(e.rule_id);
      FUZZ_CHECK(rule != nullptr);
      FUZZ_CHECK(rule->action == e.action);
      FUZZ_CHECK(rule->entry->prefix == e.prefix);
      ++uses[e.rule_id - 1];
    }
    if (entries.size() > kQuadraticLimit) continue;
    for (const TrieEntry& outer : entries) {
      for (const TrieEntry& inner : entries) {
        if (&outer == &inner || !outer.prefix.Covers(inner.prefix)) continue;
        // Only a deny may enclose another entry, and only an allow.
        FUZZ_CHECK(outer.action == Action::kDeny && inner.action == Action::kAllow);
      }
    }
  }
  for (int n : uses) FUZZ_CHECK(n == 1);
}

Action Reference(const std::vector<const AccessLists*>& scopes, const Address& address,
                 bool& matched_any) {
  matched_any = false;
  for (const AccessLists* scope : scopes) {
    for (const Entry& e : scope->allow.entries()) {
      if (e.prefix.Contains(address)) {
        matched_any = true;
        return Action::kAllow;
      }
    }
  }
  for (const AccessLists* scope : scopes) {
    for (const Entry& e : scope->deny.entries()) {
      if (e.prefix.Contains(address)) {
        matched_any = true;
        return Action::kDeny;
      }
    }
  }
  return Action::kAllow;
}

void AddAddress(std::vector<Address>& out, const Address& a) {
  if (out.size() < kMaxAddresses) out.push_back(a);
}

// Addresses near the edges of the prefixes in play, plus raw input bytes read as addresses.
std::vector<Address> ProbeAddresses(const std::vector<const AccessLists*>& scopes,
                                    std::string_view input) {
  std::vector<Address> out;
  for (const AccessLists* scope : scopes) {
    for (const AddressList* list : {&scope->allow, &scope->deny}) {
      for (const Entry& e : list->entries()) {
        const Prefix& p = e.prefix;
        AddAddress(out, p.address);
        Address last = p.address;  // the prefix's last address
        for (int bit = p.length; bit < p.address.bit_width(); ++bit) {
          last.bytes[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
        }
        AddAddress(out, last);
        Address after = last;  // the first address past the prefix, if any
        for (int i = p.address.bit_width() / 8 - 1; i >= 0 && ++after.bytes[i] == 0; --i) {
        }
        AddAddress(out, after);
      }
    }
  }
  for (size_t i = 0; i + 4 <= input.size() && out.size() < kMaxAddresses; i += 7) {
    auto byte = [&input](size_t k) { return static_cast<uint8_t>(input[k]); };
    AddAddress(out, Address::V4(byte(i), byte(i + 1), byte(i + 2), byte(i + 3)));
  }
  for (size_t i = 0; i + 16 <= input.size() && out.size() < kMaxAddresses; i += 16) {
    Address a;
    a.family = Family::kIPv6;
    for (int j = 0; j < 16; ++j) a.bytes[j] = static_cast<uint8_t>(input[i + j]);
    AddAddress(out, a);
  }
  size_t n = out.size();
  for (size_t i = 0; i < n; ++i) {
    Address unmapped = PeerAsSeenByKernel(out[i]);
    FUZZ_CHECK(unmapped.family == Family::kIPv4 || !out[i].IsV4Mapped());
    if (unmapped != out[i]) out.push_back(unmapped);
  }
  return out;
}

void CheckEvaluate(const CompiledPolicy& policy, const std::vector<const AccessLists*>& scopes,
                   std::string_view input) {
  for (const Address& address : ProbeAddresses(scopes, input)) {
    FUZZ_CHECK(Address::Parse(address.ToString()) == address);
    bool matched_any = false;
    Action want = Reference(scopes, address, matched_any);
    Verdict got = Evaluate(policy, address);
    FUZZ_CHECK(got.action == want);
    FUZZ_CHECK((got.rule != nullptr) == matched_any);
    if (got.rule != nullptr) {
      FUZZ_CHECK(got.rule->action == got.action);
      FUZZ_CHECK(got.rule->entry->prefix.Contains(address));
    }
  }
}

}  // namespace
}  // namespace gatekeeper::policy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatekeeper::policy;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  std::vector<Prefix> prefixes;
  absl::Status status = ParseToken(input, prefixes);
  if (status.ok()) {
    FUZZ_CHECK(prefixes.size() == 1 || prefixes.size() == 2);
    for (const Prefix& p : prefixes) CheckPrefix(p);
  } else {
    CheckError(status);
    FUZZ_CHECK(prefixes.empty());
  }

  // The whole input as one value, on top of an existing entry.
  AccessLists whole;
  AssignAndCheck(whole.deny, "192.0.2.0/24", 1);
  AssignAndCheck(whole.allow, input, 2);
  CheckReduce(whole.allow.entries());

  // Each line as one assignment, cycling through host allow, host deny, gate allow, gate deny.
  AccessLists host;
  AccessLists gate;
  AddressList* lists[] = {&host.allow, &host.deny, &gate.allow, &gate.deny};
  size_t start = 0;
  for (int line = 0; start <= input.size(); ++line) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    AssignAndCheck(*lists[line % 4], input.substr(start, end - start), line + 1);
    start = end + 1;
  }
  size_t total = 0;
  for (AddressList* list : lists) {
    CheckReduce(list->entries());
    total += list->entries().size();
  }

  std::vector<const AccessLists*> scopes = {&host, &gate};
  CompiledPolicy policy = Compile(scopes);
  CheckCompiled(policy, total);
  CheckEvaluate(policy, scopes, input);

  CompiledPolicy single = Compile(whole);
  CheckCompiled(single, whole.allow.entries().size() + whole.deny.entries().size());
  CheckEvaluate(single, {&whole}, input);
  return 0;
}
