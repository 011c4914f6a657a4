#include "policy/lint.h"

#include <algorithm>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/access_list.h"
#include "policy/address.h"

namespace gatekeeper::policy {

// For gmock's messages; found by argument-dependent lookup, so outside the anonymous namespace.
void PrintTo(const LintFinding& f, std::ostream* os) {
  *os << f.Where() << ": " << f.SeverityName() << ": " << f.message;
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// One scope's lists as a file writes them, one assignment per line.
class Scope {
 public:
  explicit Scope(std::string file) : file_(std::move(file)) {}

  Scope& Allow(std::string_view value) { return Assign(lists_.allow, "IPAddressAllow", value); }
  Scope& Deny(std::string_view value) { return Assign(lists_.deny, "IPAddressDeny", value); }
  // Moves on to a drop-in: later assignments come from `file`, from line 1.
  Scope& File(std::string file) {
    file_ = std::move(file);
    line_ = 0;
    return *this;
  }
  // Leaves a line without an assignment (a comment, another key).
  Scope& Skip() {
    ++line_;
    return *this;
  }

  const AccessLists& lists() const { return lists_; }

 private:
  Scope& Assign(AddressList& list, std::string key, std::string_view value) {
    Origin origin{.file = file_, .line = ++line_, .key = std::move(key)};
    absl::Status status = list.Assign(value, origin);
    EXPECT_TRUE(status.ok()) << status;
    return *this;
  }

  std::string file_;
  int line_ = 0;
  AccessLists lists_;
};

// As `gatekeeper check` prints them.
std::vector<std::string> Lines(const std::vector<LintFinding>& findings) {
  std::vector<std::string> out;
  out.reserve(findings.size());
  for (const LintFinding& f : findings) {
    out.push_back(absl::StrCat(f.Where(), ": ", f.SeverityName(), ": ", f.message));
  }
  return out;
}

std::vector<std::string> Host(const Scope& host) {
  std::vector<std::string> out = Lines(LintHostLists(host.lists()));
  for (std::string& line : Lines(LintEntries(host.lists()))) out.push_back(line);
  return out;
}

std::vector<std::string> Gate(const Scope& host, const Scope& gate) {
  return Lines(LintEntries(gate.lists(), &host.lists()));
}

// ---- Loopback in the host lists ----

TEST(LintHostListsTest, DenyAnyCutsBothLoopbackAddressesInOneWarning) {
  Scope host("gatekeeper.conf");
  host.Skip().Deny("any");
  EXPECT_THAT(Lines(LintHostLists(host.lists())),
              ElementsAre("gatekeeper.conf:2: warning: IPAddressDeny=any cuts the host off from "
                          "loopback (127.0.0.1 and ::1): the host lists apply to every process "
                          "outside the gates, so local services cannot reach each other; add "
                          "IPAddressAllow=localhost"));
}

TEST(LintHostListsTest, AllowLocalhostSilencesIt) {
  Scope host("gatekeeper.conf");
  host.Deny("any").Allow("localhost");
  EXPECT_THAT(Host(host), IsEmpty());
}

TEST(LintHostListsTest, NamesEachDecidingEntryWithTheAddressesItDenies) {
  Scope host("gatekeeper.conf");
  host.Deny("0.0.0.0/0").Deny("::1");
  EXPECT_THAT(Lines(LintHostLists(host.lists())),
              ElementsAre(HasSubstr("gatekeeper.conf:1: warning: IPAddressDeny=0.0.0.0/0 cuts the "
                                    "host off from loopback (127.0.0.1): "),
                          HasSubstr("gatekeeper.conf:2: warning: IPAddressDeny=::1 cuts the host "
                                    "off from loopback (::1): ")));
}

TEST(LintHostListsTest, LongestMatchDecides) {
  // 127.0.0.1 is allowed but ::1 is not: only the IPv6 half is reported.
  Scope host("gatekeeper.conf");
  host.Deny("any").Allow("127.0.0.1");
  EXPECT_THAT(Lines(LintHostLists(host.lists())),
              ElementsAre(HasSubstr("IPAddressDeny=any cuts the host off from loopback (::1)")));

  // A deny inside a broader allow loses; a narrower deny wins over nothing.
  Scope narrower("gatekeeper.conf");
  narrower.Allow("127.0.0.0/8").Deny("127.0.0.1");
  EXPECT_THAT(LintHostLists(narrower.lists()), IsEmpty());
}

TEST(LintHostListsTest, OtherDenialsAreFine) {
  EXPECT_THAT(LintHostLists(AccessLists{}), IsEmpty());
  Scope host("gatekeeper.conf");
  // configs/gatekeeper.conf
  host.Deny("203.0.113.0/24").Allow("203.0.113.10");
  EXPECT_THAT(Host(host), IsEmpty());
  Scope other("gatekeeper.conf");
  other.Deny("127.0.0.53 198.51.100.0/24 ::2");
  EXPECT_THAT(LintHostLists(other.lists()), IsEmpty());
}

// ---- IPv4-mapped entries ----

TEST(LintEntriesTest, MappedAddressNeverMatches) {
  Scope gate("web.gate");
  gate.Deny("any").Allow("::ffff:192.0.2.7");
  EXPECT_THAT(
      Gate(Scope("gatekeeper.conf"), gate),
      ElementsAre("web.gate:2: warning: IPAddressAllow=::ffff:192.0.2.7 never matches: an "
                  "IPv4-mapped IPv6 prefix is matched against IPv6 packets only, and IPv4 peers, "
                  "those of dual-stack sockets too, are matched as plain IPv4; write 192.0.2.7 "
                  "instead"));
}

TEST(LintEntriesTest, MappedPrefixesSuggestTheirIPv4Form) {
  Scope gate("web.gate");
  gate.Deny("::ffff:192.0.2.0/120 ::ffff:0:0/96 ::ffff:203.0.113.0/120");
  std::vector<std::string> lines = Lines(LintEntries(gate.lists()));
  ASSERT_THAT(lines, SizeIs(3));
  EXPECT_THAT(lines[0], HasSubstr("IPAddressDeny=::ffff:192.0.2.0/120 never matches"));
  EXPECT_THAT(lines[0], HasSubstr("write 192.0.2.0/24 instead"));
  EXPECT_THAT(lines[1], HasSubstr("write 0.0.0.0/0 instead"));
  EXPECT_THAT(lines[2], HasSubstr("write 203.0.113.0/24 instead"));
}

TEST(LintEntriesTest, PrefixesReachingBeyondTheMappedRangeMatchIPv6) {
  Scope gate("web.gate");
  gate.Deny("::ffff:0:0/95 64:ff9b::/96 ::192.0.2.7");
  EXPECT_THAT(LintEntries(gate.lists()), IsEmpty());
  Scope all("web.gate");
  all.Deny("::/0");
  EXPECT_THAT(LintEntries(all.lists()), IsEmpty());
}

// ---- Entries covered by others of the same list ----

TEST(LintEntriesTest, CoveredEntryHasNoEffectInEitherOrder) {
  Scope after("web.gate");
  after.Deny("any").Allow("192.0.2.0/16").Allow("192.0.2.0/24");
  EXPECT_THAT(Gate(Scope("gatekeeper.conf"), after),
              ElementsAre("web.gate:3: note: IPAddressAllow=192.0.2.0/24 has no effect: already "
                          "covered by IPAddressAllow=192.0.2.0/16 (web.gate:2)"));

  Scope before("web.gate");
  before.Deny("any").Allow("192.0.2.0/24").Allow("192.0.2.0/16");
  EXPECT_THAT(Gate(Scope("gatekeeper.conf"), before),
              ElementsAre("web.gate:2: note: IPAddressAllow=192.0.2.0/24 has no effect: already "
                          "covered by IPAddressAllow=192.0.2.0/16 (web.gate:3)"));
}

TEST(LintEntriesTest, NamesTheBroadestCover) {
  Scope gate("web.gate");
  gate.Deny("203.0.113.3").Deny("203.0.113.0/28").Deny("203.0.113.0/24");
  EXPECT_THAT(
      Lines(LintEntries(gate.lists())),
      ElementsAre(HasSubstr("web.gate:1: note: IPAddressDeny=203.0.113.3 has no effect: "
                            "already covered by IPAddressDeny=203.0.113.0/24 (web.gate:3)"),
                  HasSubstr("web.gate:2: note: IPAddressDeny=203.0.113.0/28 has no effect: "
                            "already covered by IPAddressDeny=203.0.113.0/24 (web.gate:3)")));
}

TEST(LintEntriesTest, LaterDuplicateIsTheOneReported) {
  Scope gate("web.gate");
  gate.Deny("192.0.2.7").Deny("192.0.2.7/32 any any");
  EXPECT_THAT(Lines(LintEntries(gate.lists())),
              ElementsAre(HasSubstr("web.gate:1: note: IPAddressDeny=192.0.2.7 has no effect: "
                                    "already covered by IPAddressDeny=any (web.gate:2)"),
                          HasSubstr("web.gate:2: note: IPAddressDeny=192.0.2.7/32 has no effect: "
                                    "already covered by IPAddressDeny=any (web.gate:2)"),
                          HasSubstr("web.gate:2: note: IPAddressDeny=any has no effect: already "
                                    "covered by IPAddressDeny=any (web.gate:2)")));
}

TEST(LintEntriesTest, SpecialWordNeedsBothHalvesCovered) {
  Scope partly("web.gate");
  partly.Allow("127.0.0.0/8").Allow("localhost").Deny("any");
  EXPECT_THAT(Gate(Scope("gatekeeper.conf"), partly), IsEmpty());

  Scope fully("web.gate");
  fully.Allow("127.0.0.0/8 ::1").Allow("localhost").Deny("any");
  EXPECT_THAT(Gate(Scope("gatekeeper.conf"), fully),
              ElementsAre("web.gate:2: note: IPAddressAllow=localhost has no effect: already "
                          "covered by IPAddressAllow=127.0.0.0/8 (web.gate:1) and "
                          "IPAddressAllow=::1 (web.gate:1)"));
}

TEST(LintEntriesTest, AResetDropsWhatCameBefore) {
  Scope gate("web.gate");
  gate.Deny("any").Allow("192.0.2.0/16").Allow("").Allow("192.0.2.0/24");
  EXPECT_THAT(Gate(Scope("gatekeeper.conf"), gate), IsEmpty());
}

// ---- Deny entries inside allow entries ----

TEST(LintEntriesTest, DenyInsideAllowNeverTakesEffect) {
  Scope gate("web.gate");
  gate.Allow("198.51.100.0/24").Skip().Deny("198.51.100.67");
  EXPECT_THAT(
      Gate(Scope("gatekeeper.conf"), gate),
      ElementsAre("web.gate:3: warning: IPAddressDeny=198.51.100.67 never takes effect: it "
                  "lies within IPAddressAllow=198.51.100.0/24 (web.gate:1), and an allow entry "
                  "wins over a deny entry"));
}

TEST(LintEntriesTest, DenyEqualToAllowNeverTakesEffect) {
  Scope host("gatekeeper.conf");
  host.Allow("any").Deny("any");
  EXPECT_THAT(Lines(LintEntries(host.lists())),
              ElementsAre("gatekeeper.conf:2: warning: IPAddressDeny=any never takes effect: it "
                          "lies within IPAddressAllow=any (gatekeeper.conf:1), and an allow entry "
                          "wins over a deny entry"));
}

TEST(LintEntriesTest, DenyInsideAllowIsNotAlsoANote) {
  Scope gate("web.gate");
  gate.Allow("198.51.100.0/24").Deny("198.51.100.0/26").Deny("198.51.100.1");
  EXPECT_THAT(
      Lines(LintEntries(gate.lists())),
      ElementsAre(HasSubstr("web.gate:2: warning: IPAddressDeny=198.51.100.0/26 never takes"),
                  HasSubstr("web.gate:3: warning: IPAddressDeny=198.51.100.1 never takes")));
}

TEST(LintEntriesTest, DenyPartlyInsideAllowIsFine) {
  Scope gate("web.gate");
  gate.Allow("169.254.0.0/16").Deny("link-local").Deny("198.51.100.0/24").Allow("198.51.100.64/26");
  EXPECT_THAT(Lines(LintEntries(gate.lists())), IsEmpty());
}

TEST(LintEntriesTest, HostAllowSilencesAGateDeny) {
  Scope host("gatekeeper.conf");
  host.Deny("any").Allow("localhost 198.51.100.0/24");
  Scope gate("web.gate");
  gate.Deny("198.51.100.64/26").Allow("198.51.100.67");
  EXPECT_THAT(
      Gate(host, gate),
      ElementsAre(
          "web.gate:1: warning: IPAddressDeny=198.51.100.64/26 never takes effect: it lies "
          "within the host's IPAddressAllow=198.51.100.0/24 (gatekeeper.conf:2), and an allow "
          "entry wins over a deny entry"));
}

TEST(LintEntriesTest, GateOwnAllowIsNamedBeforeAnEqualHostAllow) {
  Scope host("gatekeeper.conf");
  host.Allow("198.51.100.0/24").Deny("any");
  Scope gate("web.gate");
  gate.Allow("198.51.100.0/24").Deny("198.51.100.64/26");
  EXPECT_THAT(Gate(host, gate),
              ElementsAre(HasSubstr("within IPAddressAllow=198.51.100.0/24 (web.gate:1),")));
}

// ---- Allow entries without any deny entry ----

TEST(LintEntriesTest, AllowWithoutAnyDenyHasNoEffect) {
  Scope gate("web.gate");
  gate.Skip().Allow("192.0.2.0/24").Allow("2001:db8::/32");
  EXPECT_THAT(Gate(Scope("gatekeeper.conf"), gate),
              ElementsAre("web.gate:2: warning: IPAddressAllow= has no effect without any "
                          "IPAddressDeny= entry (here or in the host lists): whatever no deny "
                          "entry matches passes anyway; add IPAddressDeny=any to admit only the "
                          "allowed addresses"));
}

TEST(LintEntriesTest, HostDenyGivesAGateAllowSomethingToOpen) {
  Scope host("gatekeeper.conf");
  host.Deny("203.0.113.0/24").Allow("203.0.113.10");
  Scope gate("web.gate");
  gate.Allow("203.0.113.0/24");
  EXPECT_THAT(Gate(host, gate), IsEmpty());
}

TEST(LintEntriesTest, HostAllowWithoutDenyMayServeTheGates) {
  Scope host("gatekeeper.conf");
  host.Allow("198.51.100.0/24");
  EXPECT_THAT(Host(host), IsEmpty());
}

// ---- The usual patterns are quiet ----

TEST(LintEntriesTest, ShippedExamplesAreQuiet) {
  Scope host("gatekeeper.conf");
  host.Deny("203.0.113.0/24").Allow("203.0.113.10");
  // configs/web.gate
  Scope socket("web.gate");
  socket.Deny("any").Allow("192.0.2.0/24 2001:db8::/32");
  Scope service("web.gate");
  service.Deny("any").Allow("localhost");
  // configs/sshd.gate
  Scope sshd("sshd.gate");
  sshd.Deny("any").Allow("198.51.100.0/24 2001:db8:22::/48");

  EXPECT_THAT(Host(host), IsEmpty());
  EXPECT_THAT(Gate(host, socket), IsEmpty());
  EXPECT_THAT(Gate(host, service), IsEmpty());
  EXPECT_THAT(Gate(host, sshd), IsEmpty());
  EXPECT_THAT(Gate(host, Scope("empty.gate")), IsEmpty());
}

TEST(LintEntriesTest, HostDenyAnyOpenedByGatesIsQuiet) {
  Scope host("gatekeeper.conf");
  host.Deny("any").Allow("localhost");
  Scope gate("web.gate");
  gate.Allow("192.0.2.0/24 localhost");
  EXPECT_THAT(Host(host), IsEmpty());
  // Repeating a host entry is not flagged: the gate stays right if the host lists change.
  EXPECT_THAT(Gate(host, gate), IsEmpty());
}

// ---- Order and places ----

TEST(LintEntriesTest, FindingsFollowTheFilesLineByLine) {
  Scope gate("/etc/gatekeeper/web.gate");
  gate.Allow("198.51.100.0/24")
      .Deny("198.51.100.1")
      .Allow("::ffff:198.51.100.1")
      .File("/etc/gatekeeper/web.gate.d/10-more.conf")
      .Deny("198.51.100.2")
      .Allow("198.51.100.0/26");
  EXPECT_THAT(
      Gate(Scope("gatekeeper.conf"), gate),
      ElementsAre(HasSubstr("/etc/gatekeeper/web.gate:2: warning: IPAddressDeny=198.51.100.1"),
                  HasSubstr("/etc/gatekeeper/web.gate:3: warning: IPAddressAllow=::ffff:"),
                  HasSubstr("/etc/gatekeeper/web.gate.d/10-more.conf:1: warning: "
                            "IPAddressDeny=198.51.100.2"),
                  HasSubstr("/etc/gatekeeper/web.gate.d/10-more.conf:2: note: "
                            "IPAddressAllow=198.51.100.0/26 has no effect")));
}

TEST(LintEntriesTest, HandBuiltEntriesWithoutKeyOrFile) {
  AccessLists lists;
  Origin peer{.source = "wg0 peer abc="};
  ASSERT_TRUE(lists.allow.Assign("198.51.100.0/24", peer).ok());
  ASSERT_TRUE(lists.deny.Assign("198.51.100.1", Origin{.file = "x.gate"}).ok());
  EXPECT_THAT(
      Lines(LintEntries(lists)),
      ElementsAre("x.gate: warning: IPAddressDeny=198.51.100.1 never takes effect: it lies "
                  "within IPAddressAllow=198.51.100.0/24 (wg0 peer abc=), and an allow entry "
                  "wins over a deny entry"));
}

// ---- Against a brute-force reading of the rules ----

TEST(LintEntriesTest, MatchesBruteForceOnRandomLists) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    AccessLists lists;
    const int count = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < count; ++i) {
      // A small space inside TEST-NET-2, so that entries often cover each other.
      const Prefix prefix = Prefix::Make(
          Address::V4(198, 51, 100, static_cast<uint8_t>((rng() % 4) * 64 + (rng() % 4) * 16)),
          static_cast<uint8_t>(24 + rng() % 9));
      const bool allow = rng() % 2 == 0;
      Origin origin{.file = "r.gate", .line = i + 1, .key = allow ? "A" : "D"};
      ASSERT_TRUE((allow ? lists.allow : lists.deny).Assign(prefix.ToString(), origin).ok());
    }
    std::vector<int> want;
    auto covered = [](const std::vector<Entry>& list, const Entry& e, bool strict_order) {
      for (const Entry& other : list) {
        if (&other == &e || !other.prefix.Covers(e.prefix)) continue;
        // Among equal prefixes, the first assigned stays.
        if (strict_order && other.prefix == e.prefix && other.origin.line > e.origin.line) continue;
        return true;
      }
      return false;
    };
    for (const Entry& e : lists.allow.entries()) {
      if (covered(lists.allow.entries(), e, true)) want.push_back(e.origin.line);
    }
    for (const Entry& e : lists.deny.entries()) {
      if (covered(lists.allow.entries(), e, false) || covered(lists.deny.entries(), e, true)) {
        want.push_back(e.origin.line);
      }
    }
    std::sort(want.begin(), want.end());
    std::vector<int> got;
    for (const LintFinding& f : LintEntries(lists)) {
      got.push_back(f.origin.line);
      // Each line holds one entry; a deny is a warning when an allow covers it, else a note.
      bool inside_allow = false;
      for (const Entry& e : lists.deny.entries()) {
        if (e.origin.line == f.origin.line) inside_allow = covered(lists.allow.entries(), e, false);
      }
      EXPECT_EQ(f.severity, inside_allow ? LintSeverity::kWarning : LintSeverity::kNote)
          << f.message;
    }
    EXPECT_EQ(got, want) << "round " << round;
  }
}

TEST(LintEntriesTest, LargeListsAreFast) {
  AccessLists lists;
  std::mt19937 rng(1);
  std::string value;
  for (int i = 0; i < 50000; ++i) {
    // Documentation addresses only (2001:db8::/32), spread over 2^32 of them.
    absl::StrAppend(&value, "2001:db8::", absl::Hex(rng() % 65536), ":", absl::Hex(rng() % 65536),
                    " ");
  }
  ASSERT_TRUE(lists.deny.Assign(value, Origin{.file = "big.gate", .line = 1}).ok());
  ASSERT_TRUE(lists.allow.Assign(value, Origin{.file = "big.gate", .line = 2}).ok());
  // Every deny lies within its equal allow; quadratic work would take minutes here.
  const std::vector<LintFinding> findings = LintEntries(lists);
  EXPECT_GE(findings.size(), 49000u);
}

}  // namespace
}  // namespace gatekeeper::policy
