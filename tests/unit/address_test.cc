#include "policy/address.h"

#include <arpa/inet.h>

#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"

namespace gatekeeper::policy {
namespace {

Address Addr(std::string_view text) {
  std::optional<Address> address = Address::Parse(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(Address{});
}

Prefix Pfx(std::string_view text, uint8_t length) { return Prefix::Make(Addr(text), length); }

TEST(AddressTest, ParsesIPv4) {
  Address a = Addr("192.0.2.1");
  EXPECT_EQ(a.family, Family::kIPv4);
  EXPECT_EQ(a, Address::V4(192, 0, 2, 1));
  EXPECT_EQ(a.bit_width(), 32);
  EXPECT_EQ(a.ToString(), "192.0.2.1");
}

TEST(AddressTest, ParsesIPv6) {
  Address a = Addr("2001:0db8:0000::0001");
  EXPECT_EQ(a.family, Family::kIPv6);
  EXPECT_EQ(a.bit_width(), 128);
  EXPECT_EQ(a.bytes[0], 0x20);
  EXPECT_EQ(a.bytes[1], 0x01);
  EXPECT_EQ(a.bytes[2], 0x0d);
  EXPECT_EQ(a.bytes[3], 0xb8);
  EXPECT_EQ(a.bytes[15], 0x01);
  EXPECT_EQ(a.ToString(), "2001:db8::1");
}

TEST(AddressTest, ParsesV4MappedAsIPv6) {
  Address a = Addr("::ffff:192.0.2.1");
  EXPECT_EQ(a.family, Family::kIPv6);
  EXPECT_TRUE(a.IsV4Mapped());
  EXPECT_EQ(a.ToString(), "::ffff:192.0.2.1");
}

TEST(AddressTest, RejectsNonNumericAndMalformedText) {
  for (std::string_view text :
       {"", " ", "example.com", "localhost", "any", "192.0.2", "192.0.2.256", "192.0.2.1.5",
        "0x7f.0.0.1", " 192.0.2.1", "192.0.2.1 ", "192.0.2.1/24", "2001:db8:::1", "fe80::1%eth0",
        "[2001:db8::1]", "2001:db8::g", "192.0.2.01"}) {
    EXPECT_FALSE(Address::Parse(text).has_value()) << '"' << text << '"';
  }
}

TEST(AddressTest, RejectsEmbeddedNulAndOverlongText) {
  EXPECT_FALSE(Address::Parse(std::string_view("192.0.2.1\0garbage", 17)).has_value());
  EXPECT_FALSE(Address::Parse(std::string(200, '1')).has_value());
  EXPECT_FALSE(Address::Parse(std::string("2001:db8::") + std::string(100, '0')).has_value());
}

// Address::Parse reads plain dotted quads itself; it must agree with inet_pton() on every text,
// valid or not. Every text of up to six characters from the characters that matter, and longer
// random ones.
TEST(AddressTest, AgreesWithInetPton) {
  auto check = [](const std::string& text) {
    uint8_t want[16] = {};
    const bool v4 = inet_pton(AF_INET, text.c_str(), want) == 1;
    const bool v6 = !v4 && inet_pton(AF_INET6, text.c_str(), want) == 1;
    const std::optional<Address> got = Address::Parse(text);
    ASSERT_EQ(got.has_value(), v4 || v6) << text;
    if (!got.has_value()) return;
    EXPECT_EQ(got->family, v4 ? Family::kIPv4 : Family::kIPv6) << text;
    EXPECT_EQ(std::memcmp(got->bytes.data(), want, v4 ? 4 : 16), 0) << text;
  };
  constexpr std::string_view kChars = "0125.:a";
  std::string text;
  std::function<void(size_t)> all = [&](size_t left) {
    check(text);
    if (left == 0) return;
    for (char c : kChars) {
      text.push_back(c);
      all(left - 1);
      text.pop_back();
    }
  };
  all(6);
  std::mt19937 rng(7);
  constexpr std::string_view kMore = "0123456789.....:x ";
  for (int i = 0; i < 200000; ++i) {
    text.assign(7 + rng() % 12, ' ');
    for (char& c : text) c = kMore[rng() % kMore.size()];
    check(text);
  }
  for (const char* edge : {"255.255.255.255", "256.0.0.1", "1.2.3.04", "0.0.0.0", "00.0.0.0",
                           "1.2.3", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4 ", "1.2.3.0255",
                           "01.2.3.4", "1.2.3.4:80", "::1.2.3.4", "::ffff:1.2.3.4"}) {
    check(edge);
  }
}

TEST(AddressTest, IsV4MappedOnlyForTheMappedRange) {
  EXPECT_TRUE(Addr("::ffff:203.0.113.9").IsV4Mapped());
  EXPECT_FALSE(Addr("203.0.113.9").IsV4Mapped());
  EXPECT_FALSE(Addr("::203.0.113.9").IsV4Mapped());  // the deprecated "compatible" form
  EXPECT_FALSE(Addr("2001:db8::ffff:203.0.113.9").IsV4Mapped());
  EXPECT_FALSE(Addr("::1").IsV4Mapped());
}

TEST(AddressTest, PeerAsSeenByKernelUnmapsOnlyMappedAddresses) {
  EXPECT_EQ(PeerAsSeenByKernel(Addr("::ffff:192.0.2.1")), Address::V4(192, 0, 2, 1));
  EXPECT_EQ(PeerAsSeenByKernel(Addr("::ffff:0.0.0.0")), Address::V4(0, 0, 0, 0));
  EXPECT_EQ(PeerAsSeenByKernel(Addr("198.51.100.7")), Addr("198.51.100.7"));
  EXPECT_EQ(PeerAsSeenByKernel(Addr("2001:db8::1")), Addr("2001:db8::1"));
  EXPECT_EQ(PeerAsSeenByKernel(Addr("::192.0.2.1")), Addr("::192.0.2.1"));
}

TEST(AddressTest, OrdersIPv4BeforeIPv6) {
  EXPECT_LT(Addr("255.255.255.255"), Addr("::"));
  EXPECT_LT(Addr("192.0.2.1"), Addr("192.0.2.2"));
  EXPECT_LT(Addr("2001:db8::1"), Addr("2001:db8::1:0"));
}

TEST(PrefixTest, MakeClearsHostBits) {
  struct Case {
    std::string_view address;
    uint8_t length;
    std::string_view want;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"192.0.2.7", 24, "192.0.2.0/24"},
           {"192.0.2.255", 25, "192.0.2.128/25"},
           {"203.0.113.77", 27, "203.0.113.64/27"},
           {"198.51.100.1", 32, "198.51.100.1/32"},
           {"198.51.100.1", 0, "0.0.0.0/0"},
           {"198.51.100.1", 1, "128.0.0.0/1"},
           {"2001:db8:1234::1", 32, "2001:db8::/32"},
           {"2001:db8:ffff:ffff::", 33, "2001:db8:8000::/33"},
           {"2001:db8::1", 127, "2001:db8::/127"},
           {"2001:db8::1", 128, "2001:db8::1/128"},
           {"2001:db8::1", 0, "::/0"},
           {"fe80::1:2:3:4", 64, "fe80::/64"},
       }) {
    EXPECT_EQ(Pfx(c.address, c.length).ToString(), c.want) << c.address << "/" << int{c.length};
  }
}

TEST(PrefixTest, MakeKeepsTheUnusedIPv4TailZero) {
  Address odd = Address::V4(192, 0, 2, 1);
  odd.bytes[9] = 0x42;  // not a valid Address, but Make must not let it break equality
  EXPECT_EQ(Prefix::Make(odd, 24), Pfx("192.0.2.0", 24));
  EXPECT_EQ(Prefix::Make(odd, 32), Pfx("192.0.2.1", 32));
}

TEST(PrefixTest, MakeRejectsLengthsPastTheWidth) {
  EXPECT_THROW(Prefix::Make(Address::V4(192, 0, 2, 0), 33), std::invalid_argument);
  EXPECT_THROW(Prefix::Make(Addr("2001:db8::"), 129), std::invalid_argument);
}

TEST(PrefixTest, Contains) {
  Prefix net = Pfx("192.0.2.0", 24);
  EXPECT_TRUE(net.Contains(Addr("192.0.2.0")));
  EXPECT_TRUE(net.Contains(Addr("192.0.2.255")));
  EXPECT_FALSE(net.Contains(Addr("192.0.3.0")));
  EXPECT_FALSE(net.Contains(Addr("::ffff:192.0.2.1")));  // family differs
  EXPECT_TRUE(Pfx("0.0.0.0", 0).Contains(Addr("198.51.100.1")));
  EXPECT_FALSE(Pfx("0.0.0.0", 0).Contains(Addr("2001:db8::1")));
  EXPECT_TRUE(Pfx("::", 0).Contains(Addr("::ffff:192.0.2.1")));
  EXPECT_FALSE(Pfx("::", 0).Contains(Addr("192.0.2.1")));
  EXPECT_TRUE(Pfx("2001:db8::", 32).Contains(Addr("2001:db8:ffff::1")));
  EXPECT_FALSE(Pfx("2001:db8::", 32).Contains(Addr("2001:db9::1")));
  EXPECT_TRUE(Pfx("2001:db8::1", 128).Contains(Addr("2001:db8::1")));
  EXPECT_FALSE(Pfx("2001:db8::1", 128).Contains(Addr("2001:db8::2")));
  EXPECT_TRUE(Pfx("203.0.113.64", 27).Contains(Addr("203.0.113.95")));
  EXPECT_FALSE(Pfx("203.0.113.64", 27).Contains(Addr("203.0.113.96")));
}

TEST(PrefixTest, Covers) {
  EXPECT_TRUE(Pfx("192.0.2.0", 24).Covers(Pfx("192.0.2.128", 25)));
  EXPECT_TRUE(Pfx("192.0.2.0", 24).Covers(Pfx("192.0.2.0", 24)));
  EXPECT_FALSE(Pfx("192.0.2.128", 25).Covers(Pfx("192.0.2.0", 24)));
  EXPECT_FALSE(Pfx("192.0.2.0", 24).Covers(Pfx("198.51.100.0", 24)));
  EXPECT_FALSE(Pfx("192.0.2.0", 25).Covers(Pfx("192.0.2.128", 25)));
  EXPECT_TRUE(Pfx("0.0.0.0", 0).Covers(Pfx("203.0.113.1", 32)));
  EXPECT_FALSE(Pfx("0.0.0.0", 0).Covers(Pfx("::", 0)));
  EXPECT_FALSE(Pfx("::", 0).Covers(Pfx("0.0.0.0", 0)));
  EXPECT_TRUE(Pfx("2001:db8::", 32).Covers(Pfx("2001:db8:1::", 48)));
  EXPECT_FALSE(Pfx("2001:db8:1::", 48).Covers(Pfx("2001:db8::", 32)));
}

TEST(PrefixTest, OrdersByFamilyAddressThenLength) {
  EXPECT_LT(Pfx("192.0.2.0", 24), Pfx("192.0.2.0", 25));
  EXPECT_LT(Pfx("192.0.2.0", 25), Pfx("192.0.2.128", 25));
  EXPECT_LT(Pfx("203.0.113.0", 24), Pfx("::", 0));
}

}  // namespace
}  // namespace gatekeeper::policy
