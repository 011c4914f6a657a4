#include "policy/access_list.h"

#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Built field by field: GCC's -Wextra flags designated initializers that leave members out.
Origin MakeOrigin(const std::string& file, int line, const std::string& key,
                  const std::string& source = "") {
  Origin origin;
  origin.file = file;
  origin.line = line;
  origin.key = key;
  origin.source = source;
  return origin;
}

Origin At(int line, std::string key = "IPAddressAllow") {
  return MakeOrigin("web.gate", line, std::move(key));
}

std::string Quoted(std::string_view token) { return "\"" + std::string(token) + "\""; }

std::vector<std::string> PrefixStrings(const std::vector<Prefix>& prefixes) {
  std::vector<std::string> out;
  for (const Prefix& p : prefixes) out.push_back(p.ToString());
  return out;
}

std::vector<std::string> EntryStrings(const std::vector<Entry>& entries) {
  std::vector<std::string> out;
  for (const Entry& e : entries) out.push_back(e.prefix.ToString());
  return out;
}

// ---- ParseToken ----

struct TokenCase {
  std::string_view token;
  std::vector<std::string> want;
};

class ParseTokenValidTest : public ::testing::TestWithParam<TokenCase> {};

TEST_P(ParseTokenValidTest, Parses) {
  std::vector<Prefix> out;
  ASSERT_TRUE(ParseToken(GetParam().token, out).ok());
  EXPECT_EQ(PrefixStrings(out), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Tokens, ParseTokenValidTest,
    ::testing::Values(
        TokenCase{"any", {"0.0.0.0/0", "::/0"}}, TokenCase{"localhost", {"127.0.0.0/8", "::1/128"}},
        TokenCase{"link-local", {"169.254.0.0/16", "fe80::/64"}},
        TokenCase{"multicast", {"224.0.0.0/4", "ff00::/8"}},
        TokenCase{"192.0.2.1", {"192.0.2.1/32"}}, TokenCase{"192.0.2.7/24", {"192.0.2.0/24"}},
        TokenCase{"192.0.2.7/32", {"192.0.2.7/32"}}, TokenCase{"198.51.100.200/0", {"0.0.0.0/0"}},
        TokenCase{"203.0.113.99/26", {"203.0.113.64/26"}},
        TokenCase{"192.0.2.0/024", {"192.0.2.0/24"}}, TokenCase{"2001:db8::1", {"2001:db8::1/128"}},
        TokenCase{"2001:db8:abcd::1/32", {"2001:db8::/32"}},
        TokenCase{"2001:db8::/128", {"2001:db8::/128"}}, TokenCase{"::/0", {"::/0"}},
        TokenCase{"::ffff:192.0.2.1", {"::ffff:192.0.2.1/128"}},
        TokenCase{"::ffff:192.0.2.1/120", {"::ffff:192.0.2.0/120"}}));

TEST(ParseTokenTest, AppendsToOutput) {
  std::vector<Prefix> out;
  ASSERT_TRUE(ParseToken("192.0.2.1", out).ok());
  ASSERT_TRUE(ParseToken("localhost", out).ok());
  EXPECT_THAT(PrefixStrings(out), ElementsAre("192.0.2.1/32", "127.0.0.0/8", "::1/128"));
}

struct ErrorCase {
  std::string_view token;
  std::string_view why;  // part of the reason the message must give
};

class ParseTokenErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParseTokenErrorTest, RejectsAndNamesTheToken) {
  const ErrorCase& c = GetParam();
  std::vector<Prefix> out;
  absl::Status status = ParseToken(c.token, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(Quoted(c.token)));
  EXPECT_THAT(status.message(), HasSubstr(c.why));
  EXPECT_TRUE(out.empty());
}

TEST_P(ParseTokenErrorTest, AssignLeavesTheListUnchanged) {
  const ErrorCase& c = GetParam();
  AddressList list;
  ASSERT_TRUE(list.Assign("198.51.100.1", At(1)).ok());
  // The bad token sits between good ones so that a partial assignment would show.
  absl::Status status = list.Assign("203.0.113.1 " + std::string(c.token) + " 203.0.113.2", At(2));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(Quoted(c.token)));
  EXPECT_THAT(EntryStrings(list.entries()), ElementsAre("198.51.100.1/32"));
}

INSTANTIATE_TEST_SUITE_P(
    Tokens, ParseTokenErrorTest,
    ::testing::Values(
        ErrorCase{"example.com", "not a numeric IP address (host names are not allowed)"},
        ErrorCase{"www.example.com/24", "host names are not allowed"},
        ErrorCase{"ANY", "host names are not allowed"},
        ErrorCase{"Localhost", "host names are not allowed"},
        ErrorCase{"any/0", "\"any\" takes no prefix length"},
        ErrorCase{"localhost/8", "\"localhost\" takes no prefix length"},
        ErrorCase{"192.0.2.0/33", "prefix length 33 exceeds 32 for IPv4"},
        ErrorCase{"192.0.2.0/4294967328", "prefix length 4294967328 exceeds 32 for IPv4"},
        ErrorCase{"2001:db8::/129", "prefix length 129 exceeds 128 for IPv6"},
        ErrorCase{"::ffff:192.0.2.1/129", "exceeds 128 for IPv6"},
        ErrorCase{"192.0.2.0/", "empty prefix length"},
        ErrorCase{"2001:db8::/", "empty prefix length"}, ErrorCase{"/24", "missing address"},
        ErrorCase{"/", "missing address"}, ErrorCase{"192.0.2.0/+8", "is not a decimal number"},
        ErrorCase{"192.0.2.0/-8", "is not a decimal number"},
        ErrorCase{"192.0.2.0/0x8", "is not a decimal number"},
        ErrorCase{"192.0.2.0/24x", "is not a decimal number"},
        ErrorCase{"192.0.2.0/24/8", "is not a decimal number"},
        ErrorCase{"192.0.2.0//24", "is not a decimal number"},
        ErrorCase{"fe80::1%eth0", "zone ids"}, ErrorCase{"fe80::1%eth0/64", "zone ids"},
        ErrorCase{"192.0.2.256", "not a valid IPv4 address"},
        ErrorCase{"192.0.2", "not a valid IPv4 address"},
        ErrorCase{"192.0.2.1x", "host names are not allowed"},
        ErrorCase{"x192.0.2.1", "host names are not allowed"},
        ErrorCase{"2001:db8:::1", "not a valid IPv6 address"},
        ErrorCase{"[2001:db8::1]", "not a valid IPv6 address"},
        ErrorCase{"192.0.2.1,198.51.100.1", "host names are not allowed"}));

TEST(ParseTokenTest, RejectsBlanksInsideTheToken) {
  // Assign never hands these over (it splits on blanks), but ParseToken is public.
  for (std::string_view token : {"192.0.2.0/ 8", " 192.0.2.1", "192.0.2.1 ", "192.0.2.0 /8"}) {
    std::vector<Prefix> out;
    absl::Status status = ParseToken(token, out);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_THAT(status.message(), HasSubstr(Quoted(token)));
  }
}

TEST(ParseTokenTest, RejectsTheEmptyToken) {
  std::vector<Prefix> out;
  absl::Status status = ParseToken("", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("\"\""));
}

TEST(ParseTokenTest, EscapesUnprintableBytesInTheMessage) {
  std::vector<Prefix> out;
  absl::Status status = ParseToken(std::string_view("192.0.2.1\0\"x", 12), out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(R"("192.0.2.1\x00\"x")"));
}

// ---- Assign ----

TEST(AssignTest, SplitsOnSpacesTabsAndNewlines) {
  AddressList list;
  ASSERT_TRUE(
      list.Assign(" 192.0.2.1\t198.51.100.0/24  \t 2001:db8::/32\n203.0.113.5 ", At(3)).ok());
  EXPECT_THAT(EntryStrings(list.entries()),
              ElementsAre("192.0.2.1/32", "198.51.100.0/24", "2001:db8::/32", "203.0.113.5/32"));
}

TEST(AssignTest, KeepsTokenAsWrittenAndOrigin) {
  AddressList list;
  ASSERT_TRUE(list.Assign("192.0.2.7/24 localhost", At(7)).ok());
  ASSERT_EQ(list.entries().size(), 3u);
  EXPECT_EQ(list.entries()[0].token, "192.0.2.7/24");
  EXPECT_EQ(list.entries()[0].prefix.ToString(), "192.0.2.0/24");
  EXPECT_EQ(list.entries()[1].token, "localhost");
  EXPECT_EQ(list.entries()[2].token, "localhost");
  for (const Entry& e : list.entries()) {
    EXPECT_EQ(e.origin.ToString(), "web.gate:7 IPAddressAllow=");
  }
}

TEST(AssignTest, AssignmentsAccumulate) {
  AddressList list;
  ASSERT_TRUE(list.Assign("192.0.2.1", At(1)).ok());
  ASSERT_TRUE(list.Assign("198.51.100.1 192.0.2.1", At(2)).ok());
  EXPECT_THAT(EntryStrings(list.entries()),
              ElementsAre("192.0.2.1/32", "198.51.100.1/32", "192.0.2.1/32"));
  EXPECT_EQ(list.entries()[0].origin.line, 1);
  EXPECT_EQ(list.entries()[2].origin.line, 2);
}

TEST(AssignTest, EmptyValueResets) {
  AddressList list;
  ASSERT_TRUE(list.Assign("any", At(1)).ok());
  ASSERT_FALSE(list.empty());
  ASSERT_TRUE(list.Assign("", At(2)).ok());
  EXPECT_TRUE(list.empty());
  ASSERT_TRUE(list.Assign("192.0.2.1", At(3)).ok());
  EXPECT_THAT(EntryStrings(list.entries()), ElementsAre("192.0.2.1/32"));
}

TEST(AssignTest, BlankValueResets) {
  AddressList list;
  ASSERT_TRUE(list.Assign("any", At(1)).ok());
  ASSERT_TRUE(list.Assign(" \t  \t", At(2)).ok());
  EXPECT_TRUE(list.empty());
}

TEST(AssignTest, ResetOfAnEmptyListIsFine) {
  AddressList list;
  EXPECT_TRUE(list.Assign("", At(1)).ok());
  EXPECT_TRUE(list.empty());
}

TEST(AssignTest, ErrorNamesTheFirstBadToken) {
  AddressList list;
  absl::Status status = list.Assign("192.0.2.1 first.example 192.0.2.0/99 second.example", At(4));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("\"first.example\""));
  EXPECT_THAT(status.message(), Not(HasSubstr("192.0.2.0/99")));
  EXPECT_THAT(status.message(), Not(HasSubstr("second.example")));
  EXPECT_TRUE(list.empty());
}

TEST(AssignTest, ErrorDoesNotReset) {
  // A value with a bad token is not an empty assignment even if nothing valid is in it.
  AddressList list;
  ASSERT_TRUE(list.Assign("192.0.2.1", At(1)).ok());
  EXPECT_FALSE(list.Assign("example.com", At(2)).ok());
  EXPECT_THAT(EntryStrings(list.entries()), ElementsAre("192.0.2.1/32"));
}

TEST(AssignTest, ErrorMessageMatchesTheDocumentedForm) {
  AddressList list;
  EXPECT_EQ(list.Assign("192.0.2.0/33", At(1)).message(),
            "invalid address prefix \"192.0.2.0/33\": prefix length 33 exceeds 32 for IPv4");
  EXPECT_EQ(list.Assign("example.com", At(1)).message(),
            "invalid address prefix \"example.com\": not a numeric IP address (host names are not "
            "allowed)");
  EXPECT_EQ(list.Assign("192.0.2.0/", At(1)).message(),
            "invalid address prefix \"192.0.2.0/\": empty prefix length");
}

TEST(AssignTest, ErrorAfterManyTokensLeavesTheListAsItWas) {
  AddressList list;
  ASSERT_TRUE(list.Assign("192.0.2.1 localhost", At(1)).ok());
  std::string value;
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&value, "2001:db8:", absl::Hex(i), "::/48 ");
  value += "bad";
  EXPECT_FALSE(list.Assign(value, At(2)).ok());
  EXPECT_THAT(EntryStrings(list.entries()), ElementsAre("192.0.2.1/32", "127.0.0.0/8", "::1/128"));
  EXPECT_EQ(list.entries()[1].token, "localhost");
}

TEST(AssignTest, LargeAssignmentsAfterReserve) {
  // Lists the loader reserves room for, and lists that grow on their own, end up alike.
  std::string value;
  for (int i = 0; i < 3000; ++i) {
    absl::StrAppend(&value, "2001:db8::", i, " 198.51.100.", i % 200, "/32 ");
  }
  AddressList reserved;
  reserved.reserve(2 * CountTokens(value));
  AddressList grown;
  for (int line = 1; line <= 3; ++line) {
    ASSERT_TRUE(reserved.Assign(value, At(line)).ok());
    ASSERT_TRUE(grown.Assign(value, At(line)).ok());
  }
  ASSERT_EQ(reserved.entries().size(), 18000u);
  ASSERT_EQ(grown.entries().size(), 18000u);
  for (size_t i = 0; i < grown.entries().size(); ++i) {
    EXPECT_EQ(reserved.entries()[i].prefix, grown.entries()[i].prefix);
    EXPECT_EQ(reserved.entries()[i].token, grown.entries()[i].token);
    EXPECT_EQ(reserved.entries()[i].origin, grown.entries()[i].origin);
  }
  EXPECT_EQ(grown.entries()[6000].token, "2001:db8::0");
  EXPECT_EQ(grown.entries()[6000].origin.line, 2);
}

TEST(AssignTest, CopiesShareTheEntriesUntilOneChanges) {
  AddressList list;
  std::string value;
  // Over 100,000 entries: large enough for the copy on write to ask for huge pages.
  for (int i = 0; i < 110000; ++i)
    absl::StrAppend(&value, "2001:db8::", absl::Hex(i / 65536), ":", absl::Hex(i % 65536), " ");
  ASSERT_TRUE(list.Assign(value, At(1)).ok());
  AddressList copy(list);
  AddressList assigned;
  ASSERT_TRUE(assigned.Assign("any", At(9)).ok());
  assigned = list;
  ASSERT_EQ(copy.entries().size(), list.entries().size());
  ASSERT_EQ(assigned.entries().size(), list.entries().size());
  for (size_t i = 0; i < list.entries().size(); i += 997) {
    EXPECT_EQ(copy.entries()[i].token, list.entries()[i].token);
    EXPECT_EQ(assigned.entries()[i].prefix, list.entries()[i].prefix);
  }
  // Shared, not copied: the daemon keeps a gate's lists in two places.
  EXPECT_EQ(copy.entries().data(), list.entries().data());
  EXPECT_EQ(assigned.entries().data(), list.entries().data());
  const AddressList& same = assigned;
  assigned = same;  // self-assignment must keep the list
  EXPECT_EQ(assigned.entries().size(), list.entries().size());

  // A change to one copy, failed or not, leaves the others as they were.
  EXPECT_FALSE(assigned.Assign("192.0.2.1 example.com", At(3)).ok());
  EXPECT_EQ(assigned.entries().size(), 110000u);
  ASSERT_TRUE(assigned.Assign("192.0.2.1", At(4)).ok());
  ASSERT_EQ(assigned.entries().size(), 110001u);
  EXPECT_EQ(assigned.entries().back().token, "192.0.2.1");
  EXPECT_NE(assigned.entries().data(), list.entries().data());
  ASSERT_TRUE(copy.Assign("", At(2)).ok());
  EXPECT_TRUE(copy.empty());
  EXPECT_EQ(list.entries().size(), 110000u);
  EXPECT_EQ(list.entries().back().origin.line, 1);
}

// ---- CountTokens ----

TEST(CountTokensTest, CountsWhitespaceSeparatedWords) {
  EXPECT_EQ(CountTokens(""), 0u);
  EXPECT_EQ(CountTokens(" \t\r\n "), 0u);
  EXPECT_EQ(CountTokens("a"), 1u);
  EXPECT_EQ(CountTokens("192.0.2.1"), 1u);
  EXPECT_EQ(CountTokens("  192.0.2.1\t198.51.100.0/24\n\n2001:db8::/32 "), 3u);
  EXPECT_EQ(CountTokens("any localhost"), 2u);
}

TEST(CountTokensTest, MatchesAWordByWordCount) {
  // Texts of every length around the eight-byte steps, with words across their edges.
  std::mt19937 rng(3);
  constexpr std::string_view kChars = " \t\n\rx.\x80\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string text(rng() % 40, ' ');
    for (char& c : text) c = kChars[rng() % kChars.size()];
    size_t want = 0;
    bool blank_before = true;
    for (char c : text) {
      const bool blank = c == ' ' || c == '\t' || c == '\n' || c == '\r';
      want += blank_before && !blank;
      blank_before = blank;
    }
    ASSERT_EQ(CountTokens(text), want) << absl::CHexEscape(text);
  }
}

// ---- Token and SharedText ----

TEST(TokenTest, HoldsShortAndLongTextAlike) {
  const std::string long_text = "2001:0db8:0000:0000:0000:0000:0000:0001/128";
  for (const std::string& text :
       {std::string(""), std::string("any"), std::string("255.255.255.255/32"),
        std::string(24, 'x'), std::string(25, 'y'), long_text}) {
    Token token(text);
    EXPECT_EQ(token, text);
    EXPECT_EQ(token.size(), text.size());
    Token copy = token;
    EXPECT_EQ(copy, text);
    Token moved = std::move(copy);
    EXPECT_EQ(moved, text);
    EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
    Token assigned("192.0.2.1");
    assigned = token;
    EXPECT_EQ(assigned, text);
    assigned = "localhost";
    EXPECT_EQ(assigned, "localhost");
    assigned = std::move(moved);
    EXPECT_EQ(assigned, text);
    EXPECT_EQ(absl::StrCat("<", token, ">"), "<" + text + ">");
    EXPECT_EQ(token + "!", text + "!");
    EXPECT_EQ(std::string_view(token), text);
  }
}

TEST(TokenTest, SurvivesTheMovesOfAGrowingVector) {
  std::vector<Token> tokens;
  std::vector<std::string> want;
  for (int i = 0; i < 1000; ++i) {
    want.push_back(i % 3 == 0 ? absl::StrCat("2001:db8:1234:5678:9abc:def0:", i, "::/112")
                              : absl::StrCat("198.51.100.", i % 256, "/32"));
    tokens.emplace_back(want.back());
  }
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(tokens[i], want[i]);
}

TEST(SharedTextTest, ComparesByContent) {
  const SharedText a = "web.gate";
  const SharedText b = std::string("web.gate");
  const SharedText c = a;
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  EXPECT_EQ(a, "web.gate");
  EXPECT_NE(a, "db.gate");
  EXPECT_LT(SharedText("a.gate"), a);
  EXPECT_TRUE(SharedText().empty());
  EXPECT_EQ(SharedText(""), SharedText());
  EXPECT_EQ(a.str(), "web.gate");
  EXPECT_EQ(a.view(), "web.gate");
  static const SharedText kImmortal = SharedText::Immortal("IPAddressAllow");  // never freed
  const SharedText copy = kImmortal;
  EXPECT_EQ(copy, "IPAddressAllow");
}

TEST(SharedTextTest, OutlivesTheTextItWasMadeFrom) {
  SharedText copy;
  {
    std::string file = "/etc/gatekeeper/web.gate.d/10-list.conf";
    SharedText original = file;
    copy = original;
    file.assign(file.size(), '-');
  }
  EXPECT_EQ(copy, "/etc/gatekeeper/web.gate.d/10-list.conf");
  SharedText moved = std::move(copy);
  EXPECT_EQ(moved, "/etc/gatekeeper/web.gate.d/10-list.conf");
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
}

// ---- Origin ----

TEST(OriginTest, ToString) {
  EXPECT_EQ(At(7).ToString(), "web.gate:7 IPAddressAllow=");
  EXPECT_EQ(At(12, "IPAddressDeny").ToString(), "web.gate:12 IPAddressDeny=");
  EXPECT_EQ(MakeOrigin("host.conf", 3, "").ToString(), "host.conf:3");
  EXPECT_EQ(MakeOrigin("", 0, "IPAddressAllow", "wg0 peer abc=").ToString(),
            "wg0 peer abc= IPAddressAllow=");
  EXPECT_EQ(
      (Origin{.file = "ignored", .line = 1, .key = "IPAddressDeny", .source = "dns"}).ToString(),
      "dns IPAddressDeny=");
  EXPECT_EQ(MakeOrigin("", 0, "", "etcd set blocked").ToString(), "etcd set blocked");
}

// ---- Reduce ----

std::vector<Entry> Entries(std::initializer_list<std::string_view> values) {
  AddressList list;
  int line = 0;
  for (std::string_view value : values) {
    EXPECT_TRUE(list.Assign(value, At(++line)).ok()) << value;
  }
  return list.entries();
}

TEST(ReduceTest, EmptyStaysEmpty) { EXPECT_TRUE(Reduce({}).empty()); }

TEST(ReduceTest, DropsCoveredPrefixes) {
  std::vector<Entry> reduced = Reduce(Entries(
      {"192.0.2.128/25 192.0.2.1", "192.0.2.0/24", "192.0.2.0/26 198.51.100.0/24 198.51.100.9"}));
  EXPECT_THAT(EntryStrings(reduced), ElementsAre("192.0.2.0/24", "198.51.100.0/24"));
}

TEST(ReduceTest, SortsByFamilyAddressLength) {
  std::vector<Entry> reduced =
      Reduce(Entries({"2001:db8::/48 203.0.113.0/24", "192.0.2.128/25 2001:db8:1::/48",
                      "192.0.2.0/25 198.51.100.1"}));
  EXPECT_THAT(EntryStrings(reduced),
              ElementsAre("192.0.2.0/25", "192.0.2.128/25", "198.51.100.1/32", "203.0.113.0/24",
                          "2001:db8::/48", "2001:db8:1::/48"));
}

TEST(ReduceTest, EqualPrefixesKeepTheFirstAssigned) {
  std::vector<Entry> reduced = Reduce(Entries({"192.0.2.7/24", "192.0.2.0/24", "192.0.2.9/24"}));
  ASSERT_EQ(reduced.size(), 1u);
  EXPECT_EQ(reduced[0].token, "192.0.2.7/24");
  EXPECT_EQ(reduced[0].origin.line, 1);
}

TEST(ReduceTest, FamiliesDoNotCoverEachOther) {
  std::vector<Entry> reduced = Reduce(Entries({"0.0.0.0/0", "::ffff:192.0.2.1 ::/0"}));
  EXPECT_THAT(EntryStrings(reduced), ElementsAre("0.0.0.0/0", "::/0"));
}

TEST(ReduceTest, AnyCoversEverything) {
  std::vector<Entry> reduced =
      Reduce(Entries({"192.0.2.1 localhost 2001:db8::/32", "multicast link-local", "any"}));
  EXPECT_THAT(EntryStrings(reduced), ElementsAre("0.0.0.0/0", "::/0"));
  EXPECT_EQ(reduced[0].token, "any");
}

TEST(ReduceTest, KeepsAdjacentAndNestedSiblings) {
  // A covered prefix between two that it does not cover must not hide the later one.
  std::vector<Entry> reduced =
      Reduce(Entries({"192.0.2.0/24 192.0.2.0/25 192.0.2.200 198.51.100.0/25 198.51.100.128/25"}));
  EXPECT_THAT(EntryStrings(reduced),
              ElementsAre("192.0.2.0/24", "198.51.100.0/25", "198.51.100.128/25"));
}

}  // namespace
}  // namespace gatekeeper::policy
