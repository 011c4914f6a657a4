#include "policy/compiler.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/access_list.h"
#include "policy/address.h"

namespace gatekeeper::policy {
namespace {

using ::testing::ElementsAre;

Address Addr(std::string_view text) {
  std::optional<Address> address = Address::Parse(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(Address{});
}

enum class List { kHostAllow, kHostDeny, kGateAllow, kGateDeny };

struct Assignment {
  List list;
  std::string_view value;
};

// The host scope and one gate, as the daemon compiles them for that gate.
struct Scopes {
  AccessLists host;
  AccessLists gate;

  void Apply(const Assignment& a, int line) {
    AccessLists& scope = (a.list == List::kHostAllow || a.list == List::kHostDeny) ? host : gate;
    bool allow = a.list == List::kHostAllow || a.list == List::kGateAllow;
    Origin origin;
    origin.file = &scope == &host ? "host.conf" : "web.gate";
    origin.line = line;
    origin.key = allow ? "IPAddressAllow" : "IPAddressDeny";
    absl::Status status = (allow ? scope.allow : scope.deny).Assign(a.value, origin);
    ASSERT_TRUE(status.ok()) << status;
  }

  CompiledPolicy Compile() const {
    const AccessLists* scopes[] = {&host, &gate};
    return policy::Compile(scopes);
  }
};

// systemd's rule, straight from systemd.resource-control(5), over the raw lists.
Action Reference(const std::vector<const AccessLists*>& scopes, const Address& address) {
  for (const AccessLists* scope : scopes) {
    for (const Entry& e : scope->allow.entries()) {
      if (e.prefix.Contains(address)) return Action::kAllow;
    }
  }
  for (const AccessLists* scope : scopes) {
    for (const Entry& e : scope->deny.entries()) {
      if (e.prefix.Contains(address)) return Action::kDeny;
    }
  }
  return Action::kAllow;
}

// ---- Table of verdicts ----

struct VerdictCase {
  std::string_view name;
  std::vector<Assignment> assignments;
  std::string_view address;
  bool from_socket;  // address as a dual-stack socket reports it: goes through PeerAsSeenByKernel
  Action want;
  std::string_view want_token;  // empty: no entry may match
};

std::ostream& operator<<(std::ostream& os, const VerdictCase& c) { return os << c.name; }

class EvaluateTableTest : public ::testing::TestWithParam<VerdictCase> {};

TEST_P(EvaluateTableTest, MatchesSystemd) {
  const VerdictCase& c = GetParam();
  Scopes scopes;
  int line = 0;
  for (const Assignment& a : c.assignments) {
    ASSERT_NO_FATAL_FAILURE(scopes.Apply(a, ++line));
  }
  CompiledPolicy policy = scopes.Compile();
  Address address = Addr(c.address);
  if (c.from_socket) address = PeerAsSeenByKernel(address);

  Verdict verdict = Evaluate(policy, address);
  EXPECT_EQ(verdict.action, c.want);
  EXPECT_EQ(Reference({&scopes.host, &scopes.gate}, address), c.want) << "table is wrong";
  if (c.want_token.empty()) {
    EXPECT_EQ(verdict.rule, nullptr) << verdict.rule->entry->token;
  } else {
    ASSERT_NE(verdict.rule, nullptr);
    EXPECT_EQ(verdict.rule->entry->token, c.want_token);
    EXPECT_EQ(verdict.rule->action, c.want);
    EXPECT_TRUE(verdict.rule->entry->prefix.Contains(address));
  }
}

constexpr Action kAllow = Action::kAllow;
constexpr Action kDeny = Action::kDeny;
constexpr List kHA = List::kHostAllow;
constexpr List kHD = List::kHostDeny;
constexpr List kGA = List::kGateAllow;
constexpr List kGD = List::kGateDeny;

const VerdictCase kVerdictCases[] = {
    {"EmptyPolicyAllowsV4", {}, "192.0.2.1", false, kAllow, ""},
    {"EmptyPolicyAllowsV6", {}, "2001:db8::1", false, kAllow, ""},
    {"DenyAnyDeniesV4", {{kGD, "any"}}, "192.0.2.1", false, kDeny, "any"},
    {"DenyAnyDeniesV6", {{kGD, "any"}}, "2001:db8::1", false, kDeny, "any"},
    {"LocalhostV4", {{kGD, "any"}, {kGA, "localhost"}}, "127.0.0.1", false, kAllow, "localhost"},
    {"LocalhostV4WholeSlash8",
     {{kGD, "any"}, {kGA, "localhost"}},
     "127.255.255.254",
     false,
     kAllow,
     "localhost"},
    {"LocalhostV6", {{kGD, "any"}, {kGA, "localhost"}}, "::1", false, kAllow, "localhost"},
    {"LocalhostV6IsOneHost", {{kGD, "any"}, {kGA, "localhost"}}, "::2", false, kDeny, "any"},
    {"LinkLocalV4",
     {{kGD, "any"}, {kGA, "link-local"}},
     "169.254.10.20",
     false,
     kAllow,
     "link-local"},
    {"LinkLocalV6", {{kGD, "any"}, {kGA, "link-local"}}, "fe80::1", false, kAllow, "link-local"},
    {"LinkLocalV6IsSlash64",
     {{kGD, "any"}, {kGA, "link-local"}},
     "fe80:0:0:1::1",
     false,
     kDeny,
     "any"},
    {"MulticastV4",
     {{kGD, "any"}, {kGA, "multicast"}},
     "239.255.255.250",
     false,
     kAllow,
     "multicast"},
    {"MulticastV4EndsAt240", {{kGD, "any"}, {kGA, "multicast"}}, "240.0.0.1", false, kDeny, "any"},
    {"MulticastV6", {{kGD, "any"}, {kGA, "multicast"}}, "ff02::1", false, kAllow, "multicast"},
    {"HostBitsMaskedV4",
     {{kGD, "any"}, {kGA, "192.0.2.7/24"}},
     "192.0.2.200",
     false,
     kAllow,
     "192.0.2.7/24"},
    {"HostBitsMaskedV6",
     {{kGD, "any"}, {kGA, "2001:db8:1234::1/32"}},
     "2001:db8:ffff::9",
     false,
     kAllow,
     "2001:db8:1234::1/32"},
    {"NoPrefixIsOneV4Host", {{kGD, "any"}, {kGA, "192.0.2.1"}}, "192.0.2.2", false, kDeny, "any"},
    {"NoPrefixIsOneV6Host",
     {{kGD, "any"}, {kGA, "2001:db8::1"}},
     "2001:db8::1",
     false,
     kAllow,
     "2001:db8::1"},
    {"AssignmentsAccumulate",
     {{kGD, "any"}, {kGA, "192.0.2.1"}, {kGA, "198.51.100.1"}},
     "192.0.2.1",
     false,
     kAllow,
     "192.0.2.1"},
    {"AssignmentsAccumulateLater",
     {{kGD, "any"}, {kGA, "192.0.2.1"}, {kGA, "198.51.100.1"}},
     "198.51.100.1",
     false,
     kAllow,
     "198.51.100.1"},
    {"EmptyAssignmentResetsAllow",
     {{kGD, "any"}, {kGA, "192.0.2.0/24"}, {kGA, ""}, {kGA, "198.51.100.0/24"}},
     "192.0.2.1",
     false,
     kDeny,
     "any"},
    {"BlankAssignmentResetsDeny",
     {{kGD, "any"}, {kGD, " \t "}, {kGD, "203.0.113.0/24"}},
     "192.0.2.1",
     false,
     kAllow,
     ""},
    {"CoveredDenyDropped",
     {{kGD, "192.0.2.0/25 192.0.2.0/24"}},
     "192.0.2.1",
     false,
     kDeny,
     "192.0.2.0/24"},
    {"CoveredAllowDropped",
     {{kGD, "any"}, {kGA, "203.0.113.0/28"}, {kGA, "203.0.113.0/24"}},
     "203.0.113.1",
     false,
     kAllow,
     "203.0.113.0/24"},
    {"EqualPrefixAllowWins",
     {{kGD, "192.0.2.0/24"}, {kGA, "192.0.2.0/24"}},
     "192.0.2.1",
     false,
     kAllow,
     "192.0.2.0/24"},
    {"AllowInsideDeny",
     {{kGD, "192.0.2.0/24"}, {kGA, "192.0.2.128/25"}},
     "192.0.2.200",
     false,
     kAllow,
     "192.0.2.128/25"},
    {"DenyAroundAllow",
     {{kGD, "192.0.2.0/24"}, {kGA, "192.0.2.128/25"}},
     "192.0.2.5",
     false,
     kDeny,
     "192.0.2.0/24"},
    {"DenyInsideAllowLoses",
     {{kGA, "192.0.2.0/24"}, {kGD, "192.0.2.128/25"}},
     "192.0.2.200",
     false,
     kAllow,
     "192.0.2.0/24"},
    {"HostAllowBesideDenyNet",
     {{kGD, "192.0.2.0/31"}, {kGA, "192.0.2.1/32"}},
     "192.0.2.0",
     false,
     kDeny,
     "192.0.2.0/31"},
    {"DenyOnlyMatches",
     {{kGD, "198.51.100.0/24"}},
     "198.51.100.9",
     false,
     kDeny,
     "198.51.100.0/24"},
    {"DenyOnlyNoMatch", {{kGD, "198.51.100.0/24"}}, "203.0.113.1", false, kAllow, ""},
    {"AllowOnlyMatches",
     {{kGA, "198.51.100.0/24"}},
     "198.51.100.9",
     false,
     kAllow,
     "198.51.100.0/24"},
    {"AllowOnlyDoesNotDeny", {{kGA, "198.51.100.0/24"}}, "203.0.113.1", false, kAllow, ""},
    {"NoMatchV6", {{kGD, "2001:db8::/48"}}, "2001:db8:1::1", false, kAllow, ""},
    {"V4AnyDoesNotCoverV6", {{kGD, "0.0.0.0/0"}}, "2001:db8::1", false, kAllow, ""},
    {"V6AnyDoesNotCoverV4", {{kGD, "::/0"}}, "192.0.2.1", false, kAllow, ""},
    {"V6AnyCoversMappedV6", {{kGD, "::/0"}}, "::ffff:192.0.2.1", false, kDeny, "::/0"},
    {"NumericSlash0WithHostBits",
     {{kGD, "192.0.2.1/0"}},
     "203.0.113.1",
     false,
     kDeny,
     "192.0.2.1/0"},
    {"MappedEntryDoesNotAllowV4Peer",
     {{kGD, "any"}, {kGA, "::ffff:192.0.2.1"}},
     "192.0.2.1",
     false,
     kDeny,
     "any"},
    {"MappedEntryAllowsLiteralMappedV6",
     {{kGD, "any"}, {kGA, "::ffff:192.0.2.1"}},
     "::ffff:192.0.2.1",
     false,
     kAllow,
     "::ffff:192.0.2.1"},
    {"MappedEntryDoesNotAllowDualStackPeer",
     {{kGD, "any"}, {kGA, "::ffff:192.0.2.1"}},
     "::ffff:192.0.2.1",
     true,
     kDeny,
     "any"},
    {"DualStackPeerMatchesV4Allow",
     {{kGD, "any"}, {kGA, "192.0.2.0/24"}},
     "::ffff:192.0.2.1",
     true,
     kAllow,
     "192.0.2.0/24"},
    {"DualStackPeerMatchesV4Deny",
     {{kGD, "198.51.100.0/24"}},
     "::ffff:198.51.100.4",
     true,
     kDeny,
     "198.51.100.0/24"},
    {"DualStackV6PeerUnchanged",
     {{kGD, "any"}, {kGA, "2001:db8::/32"}},
     "2001:db8::5",
     true,
     kAllow,
     "2001:db8::/32"},
    {"GateAllowOpensHostDeny",
     {{kHD, "any"}, {kGA, "192.0.2.0/24"}},
     "192.0.2.1",
     false,
     kAllow,
     "192.0.2.0/24"},
    {"GateAllowOpensOnlyItsRange",
     {{kHD, "any"}, {kGA, "192.0.2.0/24"}},
     "198.51.100.1",
     false,
     kDeny,
     "any"},
    {"HostAllowSurvivesGateDeny",
     {{kHA, "192.0.2.1"}, {kGD, "any"}},
     "192.0.2.1",
     false,
     kAllow,
     "192.0.2.1"},
    {"HostAllowSurvivesGateDenyV6",
     {{kHA, "2001:db8::/32"}, {kGD, "2001:db8:1::/48"}},
     "2001:db8:1::5",
     false,
     kAllow,
     "2001:db8::/32"},
    {"DenyListsUnite",
     {{kHD, "203.0.113.0/24"}, {kGD, "198.51.100.0/24"}},
     "203.0.113.7",
     false,
     kDeny,
     "203.0.113.0/24"},
    {"DenyListsUniteGate",
     {{kHD, "203.0.113.0/24"}, {kGD, "198.51.100.0/24"}},
     "198.51.100.7",
     false,
     kDeny,
     "198.51.100.0/24"},
    {"EqualAcrossScopesKeepsHost",
     {{kGA, "192.0.2.9/24"}, {kHA, "192.0.2.0/24"}},
     "192.0.2.3",
     false,
     kAllow,
     "192.0.2.0/24"},
    {"GateResetDoesNotTouchHost",
     {{kHD, "any"}, {kGD, "203.0.113.0/24"}, {kGD, ""}},
     "198.51.100.1",
     false,
     kDeny,
     "any"},
};

INSTANTIATE_TEST_SUITE_P(Cases, EvaluateTableTest, ::testing::ValuesIn(kVerdictCases),
                         [](const ::testing::TestParamInfo<VerdictCase>& info) {
                           return std::string(info.param.name);
                         });

// ---- Structure of the compiled policy ----

std::vector<std::string> TrieStrings(const std::vector<TrieEntry>& entries) {
  std::vector<std::string> out;
  for (const TrieEntry& e : entries) {
    out.push_back(
        absl::StrCat(e.prefix.ToString(), e.action == Action::kAllow ? " allow" : " deny"));
  }
  return out;
}

TEST(CompileTest, EmptyPolicy) {
  CompiledPolicy policy = Compile(AccessLists{});
  EXPECT_TRUE(policy.rules.empty());
  EXPECT_EQ(policy.size(), 0u);
  EXPECT_EQ(policy.FindRule(kNoRule), nullptr);
  EXPECT_EQ(policy.FindRule(1), nullptr);
}

TEST(CompileTest, SplitsFamiliesSortsAndDropsCoveredEntries) {
  Scopes s;
  s.Apply({kHD, "any 192.0.2.0/24"}, 1);
  s.Apply({kHA, "localhost 2001:db8:1::/48"}, 2);
  s.Apply({kGA, "198.51.100.0/24 198.51.100.64/26 2001:db8::/32"}, 3);
  s.Apply({kGD, "2001:db8:5::/48 203.0.113.0/24"}, 4);
  CompiledPolicy policy = s.Compile();
  EXPECT_THAT(TrieStrings(policy.v4),
              ElementsAre("0.0.0.0/0 deny", "127.0.0.0/8 allow", "198.51.100.0/24 allow"));
  EXPECT_THAT(TrieStrings(policy.v6),
              ElementsAre("::/0 deny", "::1/128 allow", "2001:db8::/32 allow"));
  EXPECT_EQ(policy.size(), 6u);
}

TEST(CompileTest, RuleIdsFollowAssignmentOrderAllowsFirst) {
  Scopes s;
  s.Apply({kHD, "203.0.113.0/24 2001:db8:2::/48"}, 1);
  s.Apply({kGA, "198.51.100.0/24 192.0.2.1"}, 2);
  CompiledPolicy policy = s.Compile();
  ASSERT_EQ(policy.rules.size(), 4u);
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    EXPECT_EQ(policy.rules[i].id, i + 1);
    EXPECT_EQ(policy.FindRule(i + 1), &policy.rules[i]);
  }
  EXPECT_EQ(policy.FindRule(5), nullptr);
  EXPECT_EQ(policy.rules[0].entry->token, "198.51.100.0/24");
  EXPECT_EQ(policy.rules[0].action, Action::kAllow);
  EXPECT_EQ(policy.rules[1].entry->token, "192.0.2.1");
  EXPECT_EQ(policy.rules[2].entry->token, "203.0.113.0/24");
  EXPECT_EQ(policy.rules[2].action, Action::kDeny);
  EXPECT_EQ(policy.rules[2].entry->origin.ToString(), "host.conf:1 IPAddressDeny=");
  EXPECT_EQ(policy.rules[3].entry->token, "2001:db8:2::/48");
  for (const auto* family : {&policy.v4, &policy.v6}) {
    for (const TrieEntry& e : *family) {
      const Rule* rule = policy.FindRule(e.rule_id);
      ASSERT_NE(rule, nullptr);
      EXPECT_EQ(rule->entry->prefix, e.prefix);
      EXPECT_EQ(rule->action, e.action);
    }
  }
}

// Rules point into the lists' entries: changing or dropping the lists afterwards must not touch
// them (under ASan a dangling rule is a use after free).
TEST(CompileTest, RulesOutliveTheListsTheyPointInto) {
  auto lists = std::make_unique<AccessLists>();
  ASSERT_TRUE(lists->allow.Assign("198.51.100.0/24 2001:db8::/32", {.line = 3}).ok());
  ASSERT_TRUE(lists->deny.Assign("any", {.line = 4}).ok());
  const CompiledPolicy policy = Compile(*lists);
  // Appending would move the entries were the policy not holding them: the list copies instead.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(lists->allow.Assign("192.0.2.7", {.line = 9}).ok());
  ASSERT_TRUE(lists->deny.Assign("", {.line = 10}).ok());
  EXPECT_EQ(lists->allow.entries().size(), 102u);
  lists.reset();
  ASSERT_EQ(policy.rules.size(), 4u);
  EXPECT_EQ(policy.rules[0].entry->token, "198.51.100.0/24");
  EXPECT_EQ(policy.rules[1].entry->token, "2001:db8::/32");
  EXPECT_EQ(policy.rules[1].entry->origin.line, 3);
  EXPECT_EQ(policy.rules[2].entry->token, "any");
  EXPECT_EQ(policy.rules[3].entry->origin.line, 4);
  const Verdict v = Evaluate(policy, Address::V4(203, 0, 113, 1));
  ASSERT_NE(v.rule, nullptr);
  EXPECT_EQ(v.rule->entry->token, "any");
}

TEST(CompileTest, SingleListsOverloadMatchesSpan) {
  AccessLists lists;
  ASSERT_TRUE(lists.allow.Assign("192.0.2.0/24 localhost", {}).ok());
  ASSERT_TRUE(lists.deny.Assign("any", {}).ok());
  const AccessLists* scopes[] = {&lists};
  CompiledPolicy a = Compile(lists);
  CompiledPolicy b = Compile(scopes);
  EXPECT_EQ(a.v4, b.v4);
  EXPECT_EQ(a.v6, b.v6);
  EXPECT_EQ(a.rules.size(), b.rules.size());
}

TEST(CompileTest, DenyCoveredByAnAllowThatIsNotTheLastBeforeIt) {
  // The allow /24 is followed (in sort order) by a deny that it does not cover; the next deny is
  // covered by that /24 only, which a careless merge would miss.
  Scopes s;
  s.Apply({kGA, "192.0.2.0/24"}, 1);
  s.Apply({kGD, "192.0.2.0/25 192.0.2.200 198.51.100.0/24"}, 2);
  CompiledPolicy policy = s.Compile();
  EXPECT_THAT(TrieStrings(policy.v4), ElementsAre("192.0.2.0/24 allow", "198.51.100.0/24 deny"));
}

TEST(EvaluateTest, FindsDenyAroundSeveralAllows) {
  // The predecessor of the address is an allow that does not contain it; the deny around it does.
  Scopes s;
  s.Apply({kGD, "198.51.100.0/24"}, 1);
  s.Apply({kGA, "198.51.100.0/28 198.51.100.16/28 198.51.100.128/32 198.51.100.254"}, 2);
  CompiledPolicy policy = s.Compile();
  for (std::string_view text : {"198.51.100.32", "198.51.100.129", "198.51.100.255"}) {
    Verdict v = Evaluate(policy, Addr(text));
    EXPECT_EQ(v.action, Action::kDeny) << text;
    ASSERT_NE(v.rule, nullptr);
    EXPECT_EQ(v.rule->entry->token, "198.51.100.0/24");
  }
  EXPECT_EQ(Evaluate(policy, Addr("198.51.100.17")).action, Action::kAllow);
  EXPECT_EQ(Evaluate(policy, Addr("198.51.100.254")).action, Action::kAllow);
}

TEST(EvaluateTest, HandlesDeepNestingInAHandBuiltPolicy) {
  // Compile never nests deeper than deny > allow, but Evaluate is a plain longest-prefix match.
  CompiledPolicy policy;
  uint32_t id = 0;
  for (uint8_t length : {8, 16, 24, 30}) {
    policy.v4.push_back(TrieEntry{.prefix = Prefix::Make(Address::V4(192, 0, 2, 0), length),
                                  .action = length % 16 == 0 ? Action::kAllow : Action::kDeny,
                                  .rule_id = ++id});
  }
  std::sort(policy.v4.begin(), policy.v4.end());
  EXPECT_EQ(Evaluate(policy, Addr("192.0.2.1")).action, Action::kDeny);      // /30
  EXPECT_EQ(Evaluate(policy, Addr("192.0.2.9")).action, Action::kDeny);      // /24
  EXPECT_EQ(Evaluate(policy, Addr("192.0.3.9")).action, Action::kAllow);     // /16
  EXPECT_EQ(Evaluate(policy, Addr("192.1.3.9")).action, Action::kDeny);      // /8
  EXPECT_EQ(Evaluate(policy, Addr("198.51.100.1")).action, Action::kAllow);  // no match
}

// ---- Randomized cross-check against systemd's rule ----

class RandomPrefixes {
 public:
  explicit RandomPrefixes(uint32_t seed) : rng_(seed) {}

  uint32_t Below(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

  // Concentrated on few bits so that prefixes overlap and nest often.
  Address RandomAddress() {
    static constexpr uint8_t kV4Nets[][3] = {{192, 0, 2}, {198, 51, 100}, {203, 0, 113}};
    static constexpr uint8_t kOctets[] = {0, 1, 2, 63, 64, 127, 128, 129, 200, 254, 255};
    if (Below(3) != 0) {
      const uint8_t* net = kV4Nets[Below(3)];
      uint8_t last = Below(2) ? kOctets[Below(std::size(kOctets))] : Below(256);
      return Address::V4(net[0], net[1], net[2], last);
    }
    Address a;
    a.family = Family::kIPv6;
    a.bytes = {0x20, 0x01, 0x0d, 0xb8};
    a.bytes[4] = Below(3);
    a.bytes[5] = kOctets[Below(std::size(kOctets))];
    if (Below(2)) a.bytes[15] = kOctets[Below(std::size(kOctets))];
    if (Below(4) == 0) a.bytes[8] = 0x80;
    return a;
  }

  // Allows are kept narrower than denies so that both verdicts stay common; "any" in an allow
  // list would allow everything.
  std::string RandomToken(bool allow) {
    switch (Below(60)) {
      case 0:
        return allow ? "localhost" : "any";
      case 1:
        return "localhost";
      case 2:
        return "link-local";
      case 3:
        return "multicast";
      default:
        break;
    }
    Address a = RandomAddress();
    int length;
    if (a.family == Family::kIPv4) {
      length = allow ? 25 + Below(8) : 22 + Below(11);
    } else {
      static constexpr int kLengths[] = {32, 38, 40, 46, 47, 48, 64, 65, 120, 127, 128};
      length = kLengths[allow ? 3 + Below(std::size(kLengths) - 3) : Below(std::size(kLengths))];
    }
    if (Below(5) == 0) return a.ToString();  // host without prefix length
    return absl::StrCat(a.ToString(), "/", length);
  }

  std::string RandomValue(bool allow, int max_tokens) {
    std::string value;
    for (uint32_t n = 1 + Below(max_tokens); n > 0; --n) {
      absl::StrAppend(&value, RandomToken(allow), Below(4) == 0 ? "\t" : " ");
    }
    return value;
  }

 private:
  std::mt19937 rng_;
};

// systemd's own compile steps, in the simplest (quadratic) form.
std::vector<std::string> ReferenceTrie(const Scopes& s, Family family) {
  std::vector<Entry> allow_all = s.host.allow.entries();
  allow_all.insert(allow_all.end(), s.gate.allow.entries().begin(), s.gate.allow.entries().end());
  std::vector<Entry> deny_all = s.host.deny.entries();
  deny_all.insert(deny_all.end(), s.gate.deny.entries().begin(), s.gate.deny.entries().end());
  std::vector<Entry> allows = Reduce(allow_all);
  std::vector<Entry> denies = Reduce(deny_all);
  std::vector<std::pair<Prefix, std::string>> kept;
  for (const Entry& a : allows) kept.emplace_back(a.prefix, a.token + " allow");
  for (const Entry& d : denies) {
    bool covered = std::any_of(allows.begin(), allows.end(),
                               [&d](const Entry& a) { return a.prefix.Covers(d.prefix); });
    if (!covered) kept.emplace_back(d.prefix, d.token + " deny");
  }
  std::sort(kept.begin(), kept.end());
  std::vector<std::string> out;
  for (const auto& [prefix, what] : kept) {
    if (prefix.address.family == family) out.push_back(absl::StrCat(prefix.ToString(), " ", what));
  }
  return out;
}

std::vector<std::string> CompiledTrie(const CompiledPolicy& policy, Family family) {
  std::vector<std::string> out;
  for (const TrieEntry& e : family == Family::kIPv4 ? policy.v4 : policy.v6) {
    const Rule* rule = policy.FindRule(e.rule_id);
    EXPECT_NE(rule, nullptr);
    if (rule == nullptr) continue;
    EXPECT_EQ(rule->id, e.rule_id);
    EXPECT_EQ(rule->action, e.action);
    EXPECT_EQ(rule->entry->prefix, e.prefix);
    out.push_back(absl::StrCat(e.prefix.ToString(), " ", rule->entry->token,
                               e.action == Action::kAllow ? " allow" : " deny"));
  }
  return out;
}

TEST(EvaluateRandomTest, AgreesWithSystemdRule) {
  RandomPrefixes random(20240601);
  constexpr int kRounds = 10;
  constexpr int kAddressesPerRound = 200;
  int denied = 0;
  int matched_allow = 0;
  for (int round = 0; round < kRounds; ++round) {
    Scopes s;
    // A few hundred prefixes spread over both scopes and both lists, with the odd reset.
    for (int line = 1; line <= 24; ++line) {
      List list = static_cast<List>(random.Below(4));
      bool allow = list == List::kHostAllow || list == List::kGateAllow;
      std::string value = random.Below(30) == 0 ? "" : random.RandomValue(allow, allow ? 8 : 25);
      ASSERT_NO_FATAL_FAILURE(s.Apply({list, value}, line));
    }
    CompiledPolicy policy = s.Compile();
    EXPECT_EQ(CompiledTrie(policy, Family::kIPv4), ReferenceTrie(s, Family::kIPv4));
    EXPECT_EQ(CompiledTrie(policy, Family::kIPv6), ReferenceTrie(s, Family::kIPv6));

    for (int i = 0; i < kAddressesPerRound; ++i) {
      Address address = random.RandomAddress();
      if (random.Below(10) == 0) {
        // Dual-stack peers and literal mapped addresses exercise the family rule.
        Address mapped;
        mapped.family = Family::kIPv6;
        mapped.bytes[10] = mapped.bytes[11] = 0xff;
        Address v4 = Address::V4(192, 0, 2, random.Below(256));
        std::copy_n(v4.bytes.begin(), 4, mapped.bytes.begin() + 12);
        address = random.Below(2) ? mapped : PeerAsSeenByKernel(mapped);
      }
      Action want = Reference({&s.host, &s.gate}, address);
      Verdict got = Evaluate(policy, address);
      ASSERT_EQ(got.action, want) << "round " << round << " address " << address.ToString();
      if (got.rule != nullptr) {
        EXPECT_EQ(got.rule->action, got.action);
        EXPECT_TRUE(got.rule->entry->prefix.Contains(address));
      }
      denied += want == Action::kDeny;
      matched_allow += got.rule != nullptr && got.action == Action::kAllow;
    }
  }
  // Guards the generator: a cross-check that only ever sees one outcome checks little.
  EXPECT_GT(denied, 200) << matched_allow;
  EXPECT_GT(matched_allow, 200) << denied;
}

// Compile merges lists written in order instead of sorting them again; with a few or many such
// runs, equal prefixes in different runs and covering prefixes across them, the result must be
// the same as systemd's steps give.
TEST(CompileRandomTest, SortedRunsAgreeWithSystemdSteps) {
  RandomPrefixes random(20250101);
  for (int runs : {1, 2, 3, 8, 9, 20}) {
    std::vector<std::pair<Prefix, std::string>> tokens;
    for (int i = 0; i < 400; ++i) {
      std::string token = random.RandomToken(/*allow=*/true);
      std::vector<Prefix> parsed;
      ASSERT_TRUE(ParseToken(token, parsed).ok()) << token;
      if (parsed.size() != 1) continue;  // special words stand for two prefixes
      tokens.emplace_back(parsed[0], token);
      // The same prefix written otherwise: which one is kept depends on the order.
      if (i % 7 == 0) tokens.emplace_back(parsed[0], parsed[0].ToString());
    }
    Scopes s;
    const size_t per_run = tokens.size() / runs + 1;
    int line = 0;
    for (size_t begin = 0; begin < tokens.size(); begin += per_run) {
      const size_t end = std::min(tokens.size(), begin + per_run);
      std::stable_sort(tokens.begin() + begin, tokens.begin() + end,
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      std::string value;
      for (size_t i = begin; i < end; ++i) absl::StrAppend(&value, tokens[i].second, " ");
      // Runs alternate between the host's and the gate's allow lists; denies get one run.
      ++line;
      ASSERT_NO_FATAL_FAILURE(
          s.Apply({line % 2 ? List::kGateAllow : List::kHostAllow, value}, line));
    }
    ASSERT_NO_FATAL_FAILURE(
        s.Apply({List::kGateDeny, "198.51.100.0/24 192.0.2.0/24 2001:db8::/32"}, ++line));
    CompiledPolicy policy = s.Compile();
    EXPECT_EQ(CompiledTrie(policy, Family::kIPv4), ReferenceTrie(s, Family::kIPv4)) << runs;
    EXPECT_EQ(CompiledTrie(policy, Family::kIPv6), ReferenceTrie(s, Family::kIPv6)) << runs;
  }
}

TEST(CompileTest, CopiesAreEqual) {
  Scopes s;
  std::string value;
  for (int i = 0; i < 90000; ++i)
    absl::StrAppend(&value, "2001:db8::", absl::Hex(i / 65536), ":", absl::Hex(i % 65536), " ");
  ASSERT_NO_FATAL_FAILURE(s.Apply({List::kGateAllow, value}, 1));
  ASSERT_NO_FATAL_FAILURE(s.Apply({List::kGateDeny, "any"}, 2));
  const CompiledPolicy policy = s.Compile();
  CompiledPolicy copy(policy);
  CompiledPolicy assigned = Compile(AccessLists{});
  assigned = policy;
  for (const CompiledPolicy* p : {&copy, &assigned}) {
    ASSERT_EQ(p->rules.size(), policy.rules.size());
    EXPECT_EQ(p->v4, policy.v4);
    EXPECT_EQ(p->v6, policy.v6);
    for (size_t i = 0; i < policy.rules.size(); i += 101) {
      EXPECT_EQ(p->rules[i].id, policy.rules[i].id);
      EXPECT_EQ(p->rules[i].entry->token, policy.rules[i].entry->token);
      EXPECT_EQ(p->rules[i].entry->origin, policy.rules[i].entry->origin);
    }
  }
  CompiledPolicy moved = std::move(copy);
  EXPECT_EQ(moved.v4, policy.v4);
}

}  // namespace
}  // namespace gatekeeper::policy
