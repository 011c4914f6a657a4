#include "activation/environment.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::activation {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(EnvironmentTest, DropsSupervisorVariablesAndAddsListenFds) {
  auto env =
      ComposeEnvironment({"PATH=/usr/bin", "NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_PID=1",
                          "WATCHDOG_USEC=30000000", "LISTEN_FDS=7", "LISTEN_PID=1",
                          "LISTEN_FDNAMES=old", "LISTEN_ANYTHING=x", "LANG=C.UTF-8"},
                         {"https", "metrics"});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_THAT(*env, ElementsAre("PATH=/usr/bin", "LANG=C.UTF-8", "LISTEN_FDS=2",
                                "LISTEN_FDNAMES=https:metrics"));
}

TEST(EnvironmentTest, KeepsLookAlikes) {
  auto env = ComposeEnvironment({"NOTIFY_SOCKET_PATH=a", "MY_LISTEN_FDS=b", "WATCHDOG=c"}, {});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_THAT(*env, ElementsAre("NOTIFY_SOCKET_PATH=a", "MY_LISTEN_FDS=b", "WATCHDOG=c"));
}

TEST(EnvironmentTest, NoFdsMeansNoListenVariables) {
  auto env = ComposeEnvironment({"A=1", "LISTEN_FDS=3"}, {});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_THAT(*env, ElementsAre("A=1"));
}

TEST(EnvironmentTest, LaterAssignmentReplacesEarlierInPlace) {
  auto env = ComposeEnvironment({"A=1", "B=2", "A=3", "EMPTY="}, {"x"});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_THAT(*env, ElementsAre("A=3", "B=2", "EMPTY=", "LISTEN_FDS=1", "LISTEN_FDNAMES=x"));
}

TEST(EnvironmentTest, ValuesKeepEqualsSignsAndMetacharacters) {
  auto env = ComposeEnvironment({"Q=a=b;$(rm -rf /) `x` 'y'"}, {});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_THAT(*env, ElementsAre("Q=a=b;$(rm -rf /) `x` 'y'"));
}

TEST(EnvironmentTest, RejectsEntriesThatAreNotAssignments) {
  EXPECT_EQ(ComposeEnvironment({"JUSTANAME"}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status s = ComposeEnvironment({"=value"}, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("\"=value\""));
}

TEST(EnvironmentTest, FdNamesFollowSystemdRules) {
  EXPECT_TRUE(ValidateFdName("https").ok());
  EXPECT_TRUE(ValidateFdName("with space").ok());
  EXPECT_TRUE(ValidateFdName(std::string(255, 'n')).ok());
  EXPECT_FALSE(ValidateFdName(std::string(256, 'n')).ok());
  EXPECT_FALSE(ValidateFdName("").ok());
  EXPECT_FALSE(ValidateFdName("tab\there").ok());
  EXPECT_FALSE(ValidateFdName("caf\xc3\xa9").ok());
  const absl::Status s = ValidateFdName("a:b");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("':'"));
  EXPECT_EQ(ComposeEnvironment({}, {"ok", "bad:name"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

sockaddr_in V4(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

sockaddr_in6 V6(const char* ip, uint16_t port, uint32_t scope = 0) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  a.sin6_scope_id = scope;
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return a;
}

template <typename T>
std::vector<std::string> Remote(const T& address) {
  return RemoteEnvironment(reinterpret_cast<const sockaddr*>(&address), sizeof(address));
}

TEST(RemoteEnvironmentTest, Ipv4) {
  EXPECT_THAT(Remote(V4("192.0.2.7", 40000)),
              ElementsAre("REMOTE_ADDR=192.0.2.7", "REMOTE_PORT=40000"));
}

TEST(RemoteEnvironmentTest, Ipv4PeerOfDualStackSocketIsPlainIpv4AsInSystemd) {
  EXPECT_THAT(Remote(V6("::ffff:198.51.100.9", 1)),
              ElementsAre("REMOTE_ADDR=198.51.100.9", "REMOTE_PORT=1"));
}

TEST(RemoteEnvironmentTest, Ipv6WithoutBrackets) {
  EXPECT_THAT(Remote(V6("2001:db8::1", 65535)),
              ElementsAre("REMOTE_ADDR=2001:db8::1", "REMOTE_PORT=65535"));
  // IPv4-compatible (not mapped) addresses stay IPv6.
  EXPECT_THAT(Remote(V6("::1", 22)), ElementsAre("REMOTE_ADDR=::1", "REMOTE_PORT=22"));
}

TEST(RemoteEnvironmentTest, ScopedIpv6NamesTheInterfaceOrItsIndex) {
  // Index 1 is the loopback device in every network namespace.
  char lo[IF_NAMESIZE] = {};
  ASSERT_NE(if_indextoname(1, lo), nullptr);
  EXPECT_THAT(Remote(V6("fe80::1", 5, 1)),
              ElementsAre(std::string("REMOTE_ADDR=fe80::1%") + lo, "REMOTE_PORT=5"));
  EXPECT_THAT(Remote(V6("fe80::1", 5, 0x7ffffff0)),
              ElementsAre("REMOTE_ADDR=fe80::1%2147483632", "REMOTE_PORT=5"));
}

TEST(RemoteEnvironmentTest, NothingForOtherFamiliesOrShortAddresses) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_THAT(Remote(un), IsEmpty());
  const sockaddr_in6 six = V6("2001:db8::1", 1);
  EXPECT_THAT(RemoteEnvironment(reinterpret_cast<const sockaddr*>(&six), sizeof(sockaddr_in)),
              IsEmpty());
  EXPECT_THAT(RemoteEnvironment(nullptr, 0), IsEmpty());
}

TEST(RemoteEnvironmentTest, UnixConnectionHasNoRemoteAddress) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  EXPECT_THAT(RemoteEnvironmentOf(pair[0]), IsEmpty());
  close(pair[0]);
  close(pair[1]);
  EXPECT_THAT(RemoteEnvironmentOf(-1), IsEmpty());
}

}  // namespace
}  // namespace gatekeeper::activation
