#include "activation/connection_limiter.h"

#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::activation {
namespace {

using Verdict = ConnectionLimiter::Verdict;

std::string Key(const char* ip, uint16_t port) {
  auto address = common::SocketAddress::Parse(ip, port);
  EXPECT_TRUE(address.ok());
  return SourceKey(*address);
}

TEST(SourceKeyTest, AddressWithoutPort) {
  EXPECT_EQ(Key("192.0.2.1", 1000), "192.0.2.1");
  EXPECT_EQ(Key("192.0.2.1", 2000), Key("192.0.2.1", 1000));
  EXPECT_EQ(Key("2001:db8::7", 1), "2001:db8::7");
}

TEST(SourceKeyTest, MappedIpv4IsTheSameSourceAsIpv4) {
  EXPECT_EQ(Key("::ffff:192.0.2.1", 5), Key("192.0.2.1", 6));
}

TEST(SourceKeyTest, UnixPeersCountByUser) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  auto key = SourceKeyOf(pair[0]);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, absl::StrCat("uid:", getuid()));
  close(pair[0]);
  close(pair[1]);
  EXPECT_FALSE(SourceKeyOf(-1).ok());
}

TEST(ConnectionLimiterTest, DefaultsAreSystemds) {
  ConnectionLimits limits;
  EXPECT_EQ(limits.max_connections, 64);
  EXPECT_EQ(limits.max_per_source, 0);
  ConnectionLimiter limiter(limits);
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(limiter.TryAcquire("192.0.2.1"), Verdict::kAccept) << i;
  }
  EXPECT_EQ(limiter.TryAcquire("192.0.2.2"), Verdict::kTooManyConnections);
  EXPECT_EQ(limiter.total(), 64);
  EXPECT_EQ(limiter.from("192.0.2.1"), 64);
  EXPECT_TRUE(limiter.Release("192.0.2.1"));
  EXPECT_EQ(limiter.TryAcquire("192.0.2.2"), Verdict::kAccept);
}

TEST(ConnectionLimiterTest, PerSourceLimit) {
  ConnectionLimiter limiter({.max_connections = 10, .max_per_source = 2});
  EXPECT_EQ(limiter.TryAcquire("a"), Verdict::kAccept);
  EXPECT_EQ(limiter.TryAcquire("a"), Verdict::kAccept);
  EXPECT_EQ(limiter.TryAcquire("a"), Verdict::kTooManyFromSource);
  EXPECT_EQ(limiter.TryAcquire("b"), Verdict::kAccept);
  // Refusals are not counted.
  EXPECT_EQ(limiter.total(), 3);
  EXPECT_EQ(limiter.from("a"), 2);
  EXPECT_TRUE(limiter.Release("a"));
  EXPECT_EQ(limiter.TryAcquire("a"), Verdict::kAccept);
}

TEST(ConnectionLimiterTest, TotalLimitIsCheckedFirst) {
  ConnectionLimiter limiter({.max_connections = 1, .max_per_source = 1});
  EXPECT_EQ(limiter.TryAcquire("a"), Verdict::kAccept);
  EXPECT_EQ(limiter.TryAcquire("a"), Verdict::kTooManyConnections);
}

TEST(ConnectionLimiterTest, ReleasingWhatWasNotCountedChangesNothing) {
  ConnectionLimiter limiter({.max_connections = 2});
  EXPECT_FALSE(limiter.Release("nobody"));
  EXPECT_EQ(limiter.TryAcquire("a"), Verdict::kAccept);
  EXPECT_TRUE(limiter.Release("a"));
  EXPECT_FALSE(limiter.Release("a"));
  EXPECT_EQ(limiter.total(), 0);
  EXPECT_EQ(limiter.from("a"), 0);
}

TEST(ConnectionLimiterTest, VerdictNames) {
  EXPECT_EQ(ConnectionLimiter::VerdictName(Verdict::kTooManyFromSource),
            "refused: MaxConnectionsPerSource= reached");
}

}  // namespace
}  // namespace gatekeeper::activation
