// The pure rules of the control socket: where a request line ends, which lines are requests, the
// wording of the errors clients see, who may connect, and the log rate limit.
#include "daemon/control_protocol.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using State = RequestFrame::State;

TEST(FindRequestLineTest, WaitsForTheNewline) {
  EXPECT_EQ(FindRequestLine("").state, State::kIncomplete);
  EXPECT_EQ(FindRequestLine("{\"command\":").state, State::kIncomplete);
}

TEST(FindRequestLineTest, StopsAtTheFirstNewline) {
  const RequestFrame frame = FindRequestLine("{\"command\":\"status\"}\n{\"x\":1}\n");
  EXPECT_EQ(frame.state, State::kComplete);
  EXPECT_EQ(frame.line, "{\"command\":\"status\"}");
  EXPECT_EQ(FindRequestLine("\n").line, "");
}

TEST(FindRequestLineTest, LimitCountsTheLineWithoutItsNewline) {
  EXPECT_EQ(FindRequestLine(std::string(10, 'x'), 10).state, State::kIncomplete);
  EXPECT_EQ(FindRequestLine(std::string(11, 'x'), 10).state, State::kTooLarge);
  const RequestFrame at_limit = FindRequestLine(std::string(10, 'x') + "\n", 10);
  EXPECT_EQ(at_limit.state, State::kComplete);
  EXPECT_EQ(at_limit.line.size(), 10u);
  // A newline that only comes after the limit does not rescue the line.
  EXPECT_EQ(FindRequestLine(std::string(11, 'x') + "\n", 10).state, State::kTooLarge);
}

TEST(FindRequestLineTest, DefaultLimitIs64KiB) {
  EXPECT_EQ(FindRequestLine(std::string(kMaxRequestBytes, 'x')).state, State::kIncomplete);
  EXPECT_EQ(FindRequestLine(std::string(kMaxRequestBytes + 1, 'x')).state, State::kTooLarge);
  EXPECT_EQ(TooLargeMessage(), "request too large (limit 65536 bytes)");
}

TEST(ParseRequestTest, AcceptsAnObjectWithAStringCommand) {
  auto request = ParseRequest(R"({"command":"status","gate":"web"})");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ((*request)["command"], "status");
  EXPECT_EQ((*request)["gate"], "web");
  EXPECT_TRUE(ParseRequest(" {\"command\":\"metrics\"} \r").ok());
}

TEST(ParseRequestTest, MalformedJsonQuotesTheParserWithoutItsExceptionTag) {
  auto request = ParseRequest("{\"command\": stat");
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(request.status().message());
  EXPECT_THAT(message, StartsWith("malformed request: parse error at line 1"));
  EXPECT_THAT(message, Not(HasSubstr("[json.exception")));
  EXPECT_THAT(std::string(ParseRequest("").status().message()), StartsWith("malformed request: "));
  EXPECT_FALSE(ParseRequest("{\"command\":\"status\"} trailing").ok());
}

TEST(ParseRequestTest, NonObjectsAreRefusedByType) {
  EXPECT_EQ(ParseRequest("[1,2]").status().message(),
            "malformed request: expected a JSON object, got array");
  EXPECT_EQ(ParseRequest("\"status\"").status().message(),
            "malformed request: expected a JSON object, got string");
  EXPECT_EQ(ParseRequest("null").status().message(),
            "malformed request: expected a JSON object, got null");
}

TEST(ParseRequestTest, CommandMustBePresentAndAString) {
  EXPECT_THAT(std::string(ParseRequest("{}").status().message()), HasSubstr("has no \"command\""));
  EXPECT_THAT(std::string(ParseRequest(R"({"cmd":"status"})").status().message()),
              HasSubstr("has no \"command\""));
  EXPECT_EQ(ParseRequest(R"({"command":5})").status().message(),
            "malformed request: \"command\" must be a string, got number");
  EXPECT_EQ(ParseRequest(R"({"command":null})").status().message(),
            "malformed request: \"command\" must be a string, got null");
}

TEST(ParseRequestTest, DeepNestingDoesNotCrash) {
  const std::string deep = std::string(30000, '[') + std::string(30000, ']');
  EXPECT_FALSE(ParseRequest(deep).ok());
  EXPECT_TRUE(ParseRequest("{\"command\":\"x\",\"y\":" + deep + "}").ok());
}

TEST(SerializeReplyTest, OneLineAndInvalidUtf8IsReplacedNotThrown) {
  EXPECT_EQ(SerializeReply(ErrorReply("boom")), "{\"error\":\"boom\"}\n");
  const std::string reply = SerializeReply(ErrorReply("bad \xff byte\nnext"));
  EXPECT_EQ(reply.find('\n'), reply.size() - 1);
  EXPECT_THAT(reply, HasSubstr("\\n"));
  // The parser's message quotes the client's bytes, which need not be UTF-8.
  auto bad = ParseRequest("\xff\xfe");
  ASSERT_FALSE(bad.ok());
  EXPECT_NO_THROW(SerializeReply(ErrorReply(bad.status().message())));
}

PeerCredentials Peer(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  return PeerCredentials{.pid = 42, .uid = uid, .gid = gid, .groups = std::move(groups)};
}

TEST(AuthorizePeerTest, DecisionTable) {
  const ControlAccess root_only{.daemon_euid = 0, .group = std::nullopt, .group_name = {}};
  const ControlAccess with_adm{.daemon_euid = 0, .group = 4, .group_name = "adm"};
  const ControlAccess user_daemon{.daemon_euid = 1000, .group = std::nullopt, .group_name = {}};
  struct Case {
    const char* what;
    PeerCredentials peer;
    const ControlAccess* access;
    bool allowed;
  };
  const Case cases[] = {
      {"root, no group", Peer(0, 0), &root_only, true},
      {"root, group", Peer(0, 0), &with_adm, true},
      {"root with odd gid", Peer(0, 65534), &with_adm, true},
      {"nobody, no group", Peer(65534, 65534), &root_only, false},
      {"nobody in adm but no group configured", Peer(65534, 4, {4}), &root_only, false},
      {"nobody, group, not a member", Peer(65534, 65534, {100, 27}), &with_adm, false},
      {"primary gid is the group", Peer(65534, 4), &with_adm, true},
      {"supplementary group", Peer(65534, 65534, {27, 4, 100}), &with_adm, true},
      {"only member", Peer(1000, 1000, {4}), &with_adm, true},
      {"daemon's own uid", Peer(1000, 1000), &user_daemon, true},
      {"root while the daemon is not root", Peer(0, 0), &user_daemon, true},
      {"other user while the daemon is not root", Peer(1001, 1001), &user_daemon, false},
      {"daemon's uid as a gid proves nothing", Peer(1001, 1000, {1000}), &user_daemon, false},
  };
  for (const Case& c : cases) {
    const absl::Status s = AuthorizePeer(c.peer, *c.access);
    EXPECT_EQ(s.ok(), c.allowed) << c.what << ": " << s;
    if (!c.allowed) {
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << c.what;
    }
  }
}

TEST(AuthorizePeerTest, MessagesNameTheUidAndTheGroup) {
  const ControlAccess with_adm{.daemon_euid = 0, .group = 4, .group_name = "adm"};
  EXPECT_EQ(AuthorizePeer(Peer(65534, 65534), with_adm).message(),
            "uid 65534 is not root and not in group adm");
  const ControlAccess unnamed{.daemon_euid = 0, .group = 4242, .group_name = {}};
  EXPECT_EQ(AuthorizePeer(Peer(65534, 65534), unnamed).message(),
            "uid 65534 is not root and not in group 4242");
  const ControlAccess root_only{.daemon_euid = 0, .group = std::nullopt, .group_name = {}};
  EXPECT_EQ(AuthorizePeer(Peer(65534, 65534), root_only).message(),
            "uid 65534 is not root, and gatekeeper.conf names no [Control] Group=");
  const ControlAccess user_daemon{.daemon_euid = 1000, .group = 4, .group_name = "adm"};
  EXPECT_EQ(AuthorizePeer(Peer(7, 7), user_daemon).message(),
            "uid 7 is neither root nor the daemon's uid 1000 and not in group adm");
}

TEST(LogRateLimiterTest, OnePerIntervalAndCountsWhatItHeldBack) {
  LogRateLimiter limiter(absl::Seconds(1), 1);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  uint64_t suppressed = 99;
  EXPECT_TRUE(limiter.Allow(t0, &suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(limiter.Allow(t0 + absl::Milliseconds(10)));
  EXPECT_FALSE(limiter.Allow(t0 + absl::Milliseconds(999)));
  EXPECT_TRUE(limiter.Allow(t0 + absl::Seconds(1), &suppressed));
  EXPECT_EQ(suppressed, 2u);
  EXPECT_TRUE(limiter.Allow(t0 + absl::Seconds(5), &suppressed));
  EXPECT_EQ(suppressed, 0u);
}

TEST(LogRateLimiterTest, BurstWithinAWindow) {
  LogRateLimiter limiter(absl::Seconds(1), 3);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += limiter.Allow(t0 + absl::Milliseconds(i)) ? 1 : 0;
  EXPECT_EQ(allowed, 3);
  uint64_t suppressed = 0;
  EXPECT_TRUE(limiter.Allow(t0 + absl::Milliseconds(1500), &suppressed));
  EXPECT_EQ(suppressed, 7u);
}

}  // namespace
}  // namespace gatekeeper::daemon
