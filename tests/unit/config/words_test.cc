#include "config/words.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Words(std::string_view text) {
  absl::StatusOr<std::vector<std::string>> words = SplitWords(text);
  EXPECT_TRUE(words.ok()) << text << ": " << words.status();
  return words.ok() ? *words : std::vector<std::string>{};
}

std::string WordsError(std::string_view text) {
  absl::StatusOr<std::vector<std::string>> words = SplitWords(text);
  EXPECT_FALSE(words.ok()) << text;
  return words.ok() ? "" : std::string(words.status().message());
}

TEST(WordsTest, SplitsOnWhitespace) {
  EXPECT_THAT(Words("  a \t b\nc  "), ElementsAre("a", "b", "c"));
  EXPECT_THAT(Words(""), IsEmpty());
  EXPECT_THAT(Words("   "), IsEmpty());
}

TEST(WordsTest, Quotes) {
  EXPECT_THAT(Words(R"("a b" 'c d' "" '')"), ElementsAre("a b", "c d", "", ""));
  EXPECT_THAT(Words(R"(x"y z"w 'it''s')"), ElementsAre("xy zw", "its"));
  EXPECT_THAT(Words(R"("it's" 'say "hi"')"), ElementsAre("it's", "say \"hi\""));
}

TEST(WordsTest, EscapesInsideAndOutsideQuotes) {
  EXPECT_THAT(Words(R"(a\tb "c\nd" 'e\\f' \"q\" \'s\')"),
              ElementsAre("a\tb", "c\nd", "e\\f", "\"q\"", "'s'"));
  EXPECT_THAT(Words(R"(\x41\102\u00e9\U0001F511 x\sy \a\b\f\r\v)"),
              ElementsAre("AB\xc3\xa9\xf0\x9f\x94\x91", "x y", "\a\b\f\r\v"));
  // \xNN and \NNN give raw bytes, as in systemd.
  EXPECT_THAT(Words(R"(\xff\377)"), ElementsAre("\xff\xff"));
}

TEST(WordsTest, Errors) {
  EXPECT_THAT(WordsError(R"(a "b c)"), HasSubstr("unbalanced quotes"));
  EXPECT_THAT(WordsError(R"('abc)"), HasSubstr("unbalanced quotes"));
  EXPECT_THAT(WordsError(R"(a\q)"), HasSubstr(R"(invalid escape sequence "\\q")"));
  EXPECT_THAT(WordsError(R"(a\ b)"), HasSubstr("invalid escape sequence"));
  EXPECT_THAT(WordsError(R"(\x00)"), HasSubstr("NUL"));
  EXPECT_THAT(WordsError(R"(\000)"), HasSubstr("NUL"));
  EXPECT_THAT(WordsError(R"(\u0000)"), HasSubstr("NUL"));
  EXPECT_THAT(WordsError(R"(\x4)"), HasSubstr("two hex digits"));
  EXPECT_THAT(WordsError(R"(\400)"), HasSubstr("above"));
  EXPECT_THAT(WordsError(R"(\12)"), HasSubstr("three digits"));
  EXPECT_THAT(WordsError(R"(\ud800)"), HasSubstr("not a Unicode code point"));
  EXPECT_THAT(WordsError(R"(\U00110000)"), HasSubstr("not a Unicode code point"));
  EXPECT_THAT(WordsError("abc\\"), HasSubstr("trailing backslash"));
  EXPECT_THAT(WordsError("\"abc\\"), HasSubstr("trailing backslash"));
}

TEST(WordsTest, ExtractFirstWordLeavesTheRest) {
  std::string_view rest = "  one   two three";
  absl::StatusOr<std::optional<std::string>> word = ExtractFirstWord(rest);
  ASSERT_TRUE(word.ok());
  EXPECT_EQ(**word, "one");
  EXPECT_EQ(rest, "two three");
  rest = "  ";
  word = ExtractFirstWord(rest);
  ASSERT_TRUE(word.ok());
  EXPECT_FALSE(word->has_value());
}

TEST(WordsTest, QuoteWordRoundTrips) {
  for (std::string word : {"", "plain", "with space", "q\"uo'te", "back\\slash", "tab\tnl\n\r",
                           "\x01\x7f", "caf\xc3\xa9", "%n $HOME"}) {
    std::vector<std::string> again = Words(QuoteWord(word));
    EXPECT_THAT(again, ElementsAre(word)) << QuoteWord(word);
  }
}

TEST(SpecifiersTest, ExpandsNameAndPercent) {
  EXPECT_EQ(*ExpandSpecifiers("/run/%n.sock", "web"), "/run/web.sock");
  EXPECT_EQ(*ExpandSpecifiers("100%% %n%n", "a"), "100% aa");
  EXPECT_EQ(*ExpandSpecifiers("no specifiers", "a"), "no specifiers");
}

TEST(SpecifiersTest, NonAlphanumericAfterPercentStaysAsSystemdDoes) {
  EXPECT_EQ(*ExpandSpecifiers("50% off %-x %", "a"), "50% off %-x %");
}

TEST(SpecifiersTest, OtherSpecifiersAreErrorsNamingThem) {
  for (std::string_view spec : {"%i", "%H", "%u", "%0", "%N"}) {
    absl::StatusOr<std::string> out = ExpandSpecifiers("x" + std::string(spec), "a");
    ASSERT_FALSE(out.ok()) << spec;
    EXPECT_THAT(std::string(out.status().message()),
                HasSubstr("unknown specifier \"" + std::string(spec) + "\""));
  }
}

}  // namespace
}  // namespace gatekeeper::config
