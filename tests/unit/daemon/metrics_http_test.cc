#include "daemon/metrics_http.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/socket_address.h"
#include "common/unique_fd.h"
#include "daemon/event_loop.h"
#include "daemon/microhttpd_library.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::daemon {
namespace {

using common::SocketAddress;
using common::UniqueFd;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

struct HttpReply {
  std::string status_line;
  std::string headers;  // each line ends in "\r\n", status line excluded
  std::string body;
};

// A plain blocking client: one request, then everything up to EOF. The receive timeout keeps a
// broken server from hanging the test thread; the loop's deadline handles the other side.
absl::StatusOr<HttpReply> Fetch(const SocketAddress& server, const std::string& request) {
  UniqueFd fd(::socket(server.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd.get(), server.get(), server.length) != 0) {
    return absl::InternalError(absl::StrCat("connect: ", std::strerror(errno)));
  }
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return absl::InternalError(absl::StrCat("send: ", std::strerror(errno)));
  }
  std::string raw;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0) return absl::InternalError(absl::StrCat("recv: ", std::strerror(errno)));
    if (n == 0) break;
    raw.append(buf, n);
  }
  const size_t line_end = raw.find("\r\n");
  const size_t head_end = raw.find("\r\n\r\n");
  if (line_end == std::string::npos || head_end == std::string::npos) {
    return absl::InternalError(absl::StrCat("not an HTTP reply: \"", raw, "\""));
  }
  return HttpReply{.status_line = raw.substr(0, line_end),
                   .headers = raw.substr(line_end + 2, head_end + 2 - (line_end + 2)),
                   .body = raw.substr(head_end + 4)};
}

std::string Get(absl::string_view path, absl::string_view method = "GET") {
  return absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
}

// Runs `client` on a thread while this thread runs the loop, the way the daemon serves: the
// loop exits when the client is done, or fails the test at the deadline.
void ServeWhile(EventLoop& loop, const std::function<void()>& client) {
  UniqueFd done(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_TRUE(done.valid()) << std::strerror(errno);
  auto watch = loop.AddIo(done.get(), EPOLLIN, [&loop](uint32_t) { loop.Exit(0); });
  ASSERT_TRUE(watch.ok()) << watch.status();
  auto deadline = loop.AddTimer(absl::Seconds(20), [&loop] {
    ADD_FAILURE() << "the client did not finish within 20 s";
    loop.Exit(1);
  });
  ASSERT_TRUE(deadline.ok()) << deadline.status();
  std::thread thread([&] {
    client();
    const uint64_t one = 1;
    (void)!::write(done.get(), &one, sizeof(one));
  });
  const absl::Status run = loop.Run();
  thread.join();
  EXPECT_TRUE(run.ok()) << run;
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
  }
  // Well-formed requests give libmicrohttpd nothing to complain about.
  void TearDown() override { EXPECT_THAT(logged_, IsEmpty()); }

  // Starts on an ephemeral port of `ip`; the address to connect to goes to `server_address_`.
  void StartOn(const std::string& ip, const std::string& listen) {
    auto server = MetricsHttpServer::Start(
        *loop_, listen,
        [this] {
          ++renders_;
          return absl::StrCat("# TYPE gatekeeper_test counter\ngatekeeper_test ", renders_, "\n");
        },
        [this](const std::string& line) { logged_.push_back(line); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_NE(server_->port(), 0);
    auto address = SocketAddress::Parse(ip, server_->port());
    ASSERT_TRUE(address.ok()) << address.status();
    server_address_ = *address;
  }

  // One request per call of the returned client; results in order.
  std::vector<absl::StatusOr<HttpReply>> Exchange(const std::vector<std::string>& requests) {
    std::vector<absl::StatusOr<HttpReply>> replies;
    ServeWhile(*loop_, [&] {
      for (const std::string& request : requests)
        replies.push_back(Fetch(server_address_, request));
    });
    return replies;
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<MetricsHttpServer> server_;
  SocketAddress server_address_;
  int renders_ = 0;
  std::vector<std::string> logged_;
};

constexpr char kMetricsType[] = "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n";

TEST(ParseMetricsListenTest, AcceptsIpv4AndBracketedIpv6) {
  auto v4 = ParseMetricsListen("127.0.0.1:9100");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->ToString(), "127.0.0.1:9100");

  auto v6 = ParseMetricsListen("[::1]:9100");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->ToString(), "[::1]:9100");

  auto any6 = ParseMetricsListen("[::]:65535");
  ASSERT_TRUE(any6.ok()) << any6.status();
  EXPECT_EQ(any6->port(), 65535);

  auto ephemeral = ParseMetricsListen("0.0.0.0:0");
  ASSERT_TRUE(ephemeral.ok()) << ephemeral.status();
  EXPECT_EQ(ephemeral->port(), 0);
}

TEST(ParseMetricsListenTest, RejectsWithTheOptionAndTheText) {
  for (const char* text :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536", "127.0.0.1:99999",
        "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1: 80", ":9100", "::1:9100", "[::1]", "[::1]9100",
        "[::1:9100", "[::1]:", "[127.0.0.1]:9100", "localhost:9100", "[fe80::1%lo]:9100"}) {
    auto parsed = ParseMetricsListen(text);
    ASSERT_FALSE(parsed.ok()) << text << " parsed as " << parsed->ToString();
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(parsed.status().message(), HasSubstr("--metrics-listen")) << text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(absl::StrCat("\"", text, "\""))) << text;
  }
  EXPECT_THAT(ParseMetricsListen("127.0.0.1").status().message(), HasSubstr("missing port"));
  EXPECT_THAT(ParseMetricsListen("127.0.0.1:70000").status().message(),
              HasSubstr("invalid port \"70000\""));
}

TEST(MicrohttpdLibraryTest, LoadsEveryFunction) {
  auto mhd = LoadMicrohttpd(kMicrohttpdSoname);
  ASSERT_TRUE(mhd.ok()) << mhd.status();
  EXPECT_NE(mhd->start_daemon, nullptr);
  EXPECT_NE(mhd->stop_daemon, nullptr);
  EXPECT_NE(mhd->get_daemon_info, nullptr);
  EXPECT_NE(mhd->run, nullptr);
  EXPECT_NE(mhd->get_timeout, nullptr);
  EXPECT_NE(mhd->create_response_from_buffer, nullptr);
  EXPECT_NE(mhd->add_response_header, nullptr);
  EXPECT_NE(mhd->queue_response, nullptr);
  EXPECT_NE(mhd->destroy_response, nullptr);
  // The process-wide copy is the same library: dlopen() hands out one mapping per soname.
  auto shared = Microhttpd();
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ((*shared)->start_daemon, mhd->start_daemon);
  EXPECT_TRUE(MetricsHttpServer::LoadLibrary().ok());
}

TEST(MicrohttpdLibraryTest, AMissingLibraryIsNamedWithTheLoadersReason) {
  constexpr char kMissing[] = "libgatekeeper-test-missing.so.12";
  auto mhd = LoadMicrohttpd(kMissing);
  ASSERT_FALSE(mhd.ok());
  EXPECT_EQ(mhd.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(mhd.status().message()),
              StartsWith(absl::StrCat("load ", kMissing, ": ")));
  // dlerror()'s text.
  EXPECT_THAT(mhd.status().message(), HasSubstr("cannot open shared object file"));
}

TEST(MicrohttpdLibraryTest, ALibraryLackingAFunctionNamesIt) {
  // The C library is there (this test runs on it) and has none of libmicrohttpd's functions.
  auto mhd = LoadMicrohttpd("libc.so.6");
  ASSERT_FALSE(mhd.ok());
  EXPECT_EQ(mhd.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(mhd.status().message()),
              StartsWith("libc.so.6 lacks MHD_start_daemon: "));
  EXPECT_THAT(mhd.status().message(), HasSubstr("undefined symbol"));
}

TEST_F(MetricsHttpServerTest, ServesMetricsAsPrometheusText) {
  StartOn("127.0.0.1", "127.0.0.1:0");
  const auto replies = Exchange({Get("/metrics")});
  ASSERT_EQ(replies.size(), 1u);
  ASSERT_TRUE(replies[0].ok()) << replies[0].status();
  EXPECT_EQ(replies[0]->status_line, "HTTP/1.1 200 OK");
  EXPECT_THAT(replies[0]->headers, HasSubstr(kMetricsType));
  EXPECT_EQ(replies[0]->body, "# TYPE gatekeeper_test counter\ngatekeeper_test 1\n");
}

TEST_F(MetricsHttpServerTest, RendersAgainForEveryRequest) {
  StartOn("127.0.0.1", "127.0.0.1:0");
  const auto replies = Exchange({Get("/metrics"), Get("/metrics")});
  ASSERT_EQ(replies.size(), 2u);
  ASSERT_TRUE(replies[0].ok()) << replies[0].status();
  ASSERT_TRUE(replies[1].ok()) << replies[1].status();
  EXPECT_THAT(replies[0]->body, HasSubstr("gatekeeper_test 1\n"));
  EXPECT_THAT(replies[1]->body, HasSubstr("gatekeeper_test 2\n"));
  EXPECT_EQ(renders_, 2);
}

TEST_F(MetricsHttpServerTest, HeadGetsTheHeadersWithoutABody) {
  StartOn("127.0.0.1", "127.0.0.1:0");
  const auto replies = Exchange({Get("/metrics", "HEAD")});
  ASSERT_TRUE(replies[0].ok()) << replies[0].status();
  EXPECT_EQ(replies[0]->status_line, "HTTP/1.1 200 OK");
  EXPECT_THAT(replies[0]->headers, HasSubstr(kMetricsType));
  const std::string body = "# TYPE gatekeeper_test counter\ngatekeeper_test 1\n";
  EXPECT_THAT(replies[0]->headers, HasSubstr(absl::StrCat("\r\nContent-Length: ", body.size())));
  EXPECT_EQ(replies[0]->body, "");
}

TEST_F(MetricsHttpServerTest, OtherPathsAreNotFound) {
  StartOn("127.0.0.1", "127.0.0.1:0");
  const auto replies = Exchange({Get("/nope"), Get("/metrics/x"), Get("/")});
  for (const auto& reply : replies) {
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status_line, "HTTP/1.1 404 Not Found");
    EXPECT_THAT(reply->body, HasSubstr("/metrics"));
  }
  EXPECT_EQ(renders_, 0);
}

TEST_F(MetricsHttpServerTest, OtherMethodsAreNotAllowed) {
  StartOn("127.0.0.1", "127.0.0.1:0");
  const auto replies = Exchange({
      "POST /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: "
      "application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\nx=1",
      Get("/metrics", "DELETE"),
  });
  for (const auto& reply : replies) {
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status_line, "HTTP/1.1 405 Method Not Allowed");
    EXPECT_THAT(reply->headers, HasSubstr("\r\nAllow: GET, HEAD\r\n"));
  }
  EXPECT_EQ(renders_, 0);
}

TEST_F(MetricsHttpServerTest, LibraryMessagesGoToTheLogNotStderr) {
  StartOn("127.0.0.1", "127.0.0.1:0");
  ::testing::internal::CaptureStderr();
  const auto replies = Exchange({"GET /metrics HTTP/7.1\r\nHost: test\r\n\r\n"});
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  ASSERT_TRUE(replies[0].ok()) << replies[0].status();
  EXPECT_EQ(replies[0]->status_line, "HTTP/1.1 505 HTTP Version Not Supported");
  ASSERT_THAT(logged_, Not(IsEmpty()));
  EXPECT_THAT(logged_[0], StartsWith("<5>metrics endpoint: "));
  EXPECT_THAT(logged_[0], Not(EndsWith("\n")));
  logged_.clear();
}

TEST_F(MetricsHttpServerTest, AddressInUseNamesTheAddressAndTheError) {
  UniqueFd taken(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(taken.valid());
  auto loopback = SocketAddress::Parse("127.0.0.1", 0);
  ASSERT_TRUE(loopback.ok());
  ASSERT_EQ(::bind(taken.get(), loopback->get(), loopback->length), 0) << std::strerror(errno);
  ASSERT_EQ(::listen(taken.get(), 1), 0) << std::strerror(errno);
  auto bound = SocketAddress::LocalOf(taken.get());
  ASSERT_TRUE(bound.ok());

  const std::string listen = absl::StrCat("127.0.0.1:", bound->port());
  auto server = MetricsHttpServer::Start(
      *loop_, listen, [] { return std::string(); }, [](const std::string&) {});
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr(listen));
  EXPECT_THAT(server.status().message(), HasSubstr(std::strerror(EADDRINUSE)));
}

TEST_F(MetricsHttpServerTest, ServesOnIpv6Loopback) {
  {
    UniqueFd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto any = SocketAddress::Parse("::1", 0);
    ASSERT_TRUE(any.ok());
    if (!probe || ::bind(probe.get(), any->get(), any->length) != 0) {
      GTEST_SKIP() << "no IPv6 loopback: " << std::strerror(errno);
    }
  }
  StartOn("::1", "[::1]:0");
  const auto replies = Exchange({Get("/metrics")});
  ASSERT_TRUE(replies[0].ok()) << replies[0].status();
  EXPECT_EQ(replies[0]->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(replies[0]->body, "# TYPE gatekeeper_test counter\ngatekeeper_test 1\n");
}

}  // namespace
}  // namespace gatekeeper::daemon
