#include "config/listen_spec.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::config {
namespace {

using ::testing::HasSubstr;
using Type = ListenSpec::Type;
using Kind = ListenSpec::Kind;

ListenSpec Parse(std::string_view text, Type type = Type::kStream) {
  absl::StatusOr<ListenSpec> spec = ParseListenSpec(type, text);
  EXPECT_TRUE(spec.ok()) << text << ": " << spec.status();
  return spec.ok() ? *spec : ListenSpec{};
}

std::string Error(std::string_view text) {
  absl::StatusOr<ListenSpec> spec = ParseListenSpec(Type::kStream, text);
  EXPECT_FALSE(spec.ok()) << text;
  return spec.ok() ? "" : std::string(spec.status().message());
}

TEST(ListenSpecTest, PortIsDualStackAnyAddress) {
  ListenSpec spec = Parse("8443");
  EXPECT_EQ(spec.kind, Kind::kAnyAddress);
  EXPECT_EQ(spec.port, 8443);
  EXPECT_FALSE(spec.address.has_value());
  EXPECT_EQ(spec.ToString(), "8443");
  EXPECT_EQ(spec.KeyName(), "ListenStream");
}

TEST(ListenSpecTest, IPv4AndIPv6) {
  ListenSpec v4 = Parse("192.0.2.1:53", Type::kDatagram);
  EXPECT_EQ(v4.type, Type::kDatagram);
  EXPECT_EQ(v4.kind, Kind::kInet);
  EXPECT_EQ(v4.address, policy::Address::V4(192, 0, 2, 1));
  EXPECT_EQ(v4.port, 53);
  EXPECT_EQ(v4.ToString(), "192.0.2.1:53");
  EXPECT_EQ(v4.KeyName(), "ListenDatagram");

  ListenSpec v6 = Parse("[2001:db8:0::1]:443");
  EXPECT_EQ(v6.kind, Kind::kInet);
  EXPECT_EQ(v6.address->family, policy::Family::kIPv6);
  EXPECT_EQ(v6.ToString(), "[2001:db8::1]:443");
  EXPECT_EQ(Parse("[::]:80").ToString(), "[::]:80");
  EXPECT_EQ(Parse("0.0.0.0:80").ToString(), "0.0.0.0:80");
}

TEST(ListenSpecTest, UnixPathsAreCollapsed) {
  ListenSpec spec = Parse("/run//gk/./web.sock");
  EXPECT_EQ(spec.kind, Kind::kUnix);
  EXPECT_EQ(spec.path, "/run/gk/web.sock");
  EXPECT_EQ(spec.ToString(), "/run/gk/web.sock");
  EXPECT_EQ(Parse("/" + std::string(106, 'a')).path.size(), 107u);
}

TEST(ListenSpecTest, ToStringParsesBack) {
  for (std::string_view text : {"1", "65535", "203.0.113.9:9", "[2001:db8::]:1", "/x"}) {
    ListenSpec spec = Parse(text);
    EXPECT_EQ(Parse(spec.ToString()), spec) << text;
  }
}

TEST(ListenSpecTest, Errors) {
  EXPECT_THAT(Error("0"), HasSubstr("port 0"));
  EXPECT_THAT(Error("65536"), HasSubstr("not a number from 1 to 65535"));
  EXPECT_THAT(Error("192.0.2.1:"), HasSubstr("port \"\""));
  EXPECT_THAT(Error("192.0.2.1"), HasSubstr("expected PORT"));
  EXPECT_THAT(Error("example.com:80"), HasSubstr("host names are not allowed"));
  EXPECT_THAT(Error("2001:db8::1:80"), HasSubstr("needs brackets"));
  EXPECT_THAT(Error("[2001:db8::1]"), HasSubstr("expected [IPV6]:PORT"));
  EXPECT_THAT(Error("[192.0.2.1]:80"), HasSubstr("not a numeric IPv6 address"));
  EXPECT_THAT(Error("[fe80::1%wg0]:80"), HasSubstr("zone ids"));
  EXPECT_THAT(Error("@abstract"), HasSubstr("abstract unix sockets"));
  EXPECT_THAT(Error("/run/x/"), HasSubstr("cannot end in"));
  EXPECT_THAT(Error("/"), HasSubstr("cannot end in"));
  EXPECT_THAT(Error("/" + std::string(107, 'a')), HasSubstr("107 bytes"));
  EXPECT_THAT(Error("relative/path"), HasSubstr("expected PORT"));
  EXPECT_THAT(Error("*:80"), HasSubstr("not a numeric IPv4 address"));
  EXPECT_THAT(Error("80 81"), HasSubstr("expected PORT"));
}

TEST(ListenSpecTest, SameEndpoint) {
  EXPECT_TRUE(SameEndpoint(Parse("80"), Parse("80")));
  EXPECT_FALSE(SameEndpoint(Parse("80"), Parse("80", Type::kDatagram)));
  EXPECT_FALSE(SameEndpoint(Parse("80"), Parse("[::]:80")));
  EXPECT_FALSE(SameEndpoint(Parse("192.0.2.1:80"), Parse("192.0.2.2:80")));
  // Stream and datagram sockets on one path would bind the same file.
  EXPECT_TRUE(SameEndpoint(Parse("/run/x"), Parse("/run//x", Type::kDatagram)));
  ListenSpec a = Parse("80");
  ListenSpec b = Parse("80");
  b.where = Location{"other.gate", 9};
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace gatekeeper::config
