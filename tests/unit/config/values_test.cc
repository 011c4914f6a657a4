#include "config/values.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::config {
namespace {

using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(ValuesTest, Booleans) {
  for (std::string_view yes : {"1", "yes", "y", "true", "t", "on", "YES", "True", "On"}) {
    EXPECT_EQ(ParseBoolean(yes).value_or(false), true) << yes;
  }
  for (std::string_view no : {"0", "no", "n", "false", "f", "off", "NO", "Off"}) {
    EXPECT_EQ(ParseBoolean(no).value_or(true), false) << no;
  }
  for (std::string_view bad : {"", "2", "yess", "no # x", " yes"}) {
    EXPECT_FALSE(ParseBoolean(bad).ok()) << bad;
  }
  EXPECT_THAT(Message(ParseBoolean("no # x").status()), HasSubstr("\"no # x\" is not a boolean"));
}

TEST(ValuesTest, Unsigned) {
  EXPECT_EQ(*ParseUnsigned("0", 10), 0u);
  EXPECT_EQ(*ParseUnsigned("0010", 10), 10u);
  EXPECT_EQ(*ParseUnsigned("18446744073709551615", UINT64_MAX), UINT64_MAX);
  EXPECT_FALSE(ParseUnsigned("18446744073709551616", UINT64_MAX).ok());
  EXPECT_THAT(Message(ParseUnsigned("11", 10).status()), HasSubstr("too large (at most 10)"));
  for (std::string_view bad : {"", "-1", "+1", "0x10", "1 ", "1.5", "ten"}) {
    EXPECT_FALSE(ParseUnsigned(bad, 100).ok()) << bad;
  }
}

TEST(ValuesTest, TimeSpans) {
  struct Case {
    std::string_view text;
    absl::Duration want;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"5", absl::Seconds(5)},
           {"100ms", absl::Milliseconds(100)},
           {"5s", absl::Seconds(5)},
           {"1min 30s", absl::Seconds(90)},
           {"1min30s", absl::Seconds(90)},
           {" 2 h ", absl::Hours(2)},
           {"1.5s", absl::Milliseconds(1500)},
           {"0.25", absl::Milliseconds(250)},
           {".5s", absl::Milliseconds(500)},
           {"1d 1h 1m 1s 1ms 1us", absl::Hours(25) + absl::Minutes(1) + absl::Seconds(1) +
                                       absl::Milliseconds(1) + absl::Microseconds(1)},
           {"2weeks", absl::Hours(24 * 14)},
           {"1M", absl::Seconds(2629800)},
           {"1y", absl::Seconds(31557600)},
           {"3 seconds 2 minutes", absl::Seconds(123)},
           {"7\xce\xbcs", absl::Microseconds(7)},
           {"0", absl::ZeroDuration()},
       }) {
    absl::StatusOr<absl::Duration> got = ParseTimeSpan(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.text;
  }
  for (std::string_view bad : {"", " ", "-1s", "5x", "5 x", "12.34.56", "3.s", "s", "1secs", "1.",
                               "99999999999999999999s", "300000y"}) {
    EXPECT_FALSE(ParseTimeSpan(bad).ok()) << bad;
  }
  EXPECT_THAT(Message(ParseTimeSpan("infinity").status()), HasSubstr("infinity"));
}

TEST(ValuesTest, Modes) {
  EXPECT_EQ(*ParseMode("0660"), 0660u);
  EXPECT_EQ(*ParseMode("600"), 0600u);
  EXPECT_EQ(*ParseMode("7777"), 07777u);
  for (std::string_view bad : {"", "0888", "10000", "rw-", "0x1ff", "077777"}) {
    EXPECT_FALSE(ParseMode(bad).ok()) << bad;
  }
}

TEST(ValuesTest, InterfaceNames) {
  for (std::string_view good : {"wg0", "eth0.100", "br-lan", "a", "fifteen_chars_x"}) {
    EXPECT_TRUE(CheckInterfaceName(good).ok()) << good;
  }
  for (std::string_view bad : {"", "sixteen_chars_xx", "wg 0", "wg:0", "a/b", "wg%d", ".", "..",
                               "all", "default", "42", "w\xc3\xa9"}) {
    EXPECT_FALSE(CheckInterfaceName(bad).ok()) << bad;
  }
}

TEST(ValuesTest, FdNames) {
  EXPECT_TRUE(CheckFdName("https").ok());
  EXPECT_TRUE(CheckFdName("with space!").ok());
  EXPECT_TRUE(CheckFdName(std::string(255, 'x')).ok());
  EXPECT_FALSE(CheckFdName(std::string(256, 'x')).ok());
  EXPECT_FALSE(CheckFdName("a:b").ok());
  EXPECT_FALSE(CheckFdName("tab\t").ok());
  EXPECT_FALSE(CheckFdName("caf\xc3\xa9").ok());
}

TEST(ValuesTest, AbsolutePaths) {
  EXPECT_TRUE(CheckAbsolutePath("/usr/bin/x").ok());
  EXPECT_FALSE(CheckAbsolutePath("usr/bin/x").ok());
  EXPECT_FALSE(CheckAbsolutePath("").ok());
  EXPECT_FALSE(CheckAbsolutePath("~/x").ok());
  EXPECT_FALSE(CheckAbsolutePath("/a\nb").ok());
  EXPECT_FALSE(CheckAbsolutePath("/" + std::string(5000, 'a')).ok());
}

TEST(ValuesTest, UserNamesAndIds) {
  EXPECT_TRUE(CheckUserOrGroupName("www-data").ok());
  EXPECT_TRUE(CheckUserOrGroupName("user.name@REALM").ok());
  for (std::string_view bad : {"", "-x", "a b", "a:b", "a/b", "a\tb"}) {
    EXPECT_FALSE(CheckUserOrGroupName(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseNumericId("0"), 0u);
  EXPECT_EQ(ParseNumericId("4294967294"), 4294967294u);
  EXPECT_EQ(ParseNumericId("4294967295"), std::nullopt);
  EXPECT_EQ(ParseNumericId("65535"), std::nullopt);
  EXPECT_EQ(ParseNumericId("4294967296"), std::nullopt);
  EXPECT_EQ(ParseNumericId("x"), std::nullopt);
}

}  // namespace
}  // namespace gatekeeper::config
