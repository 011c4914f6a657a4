// The control socket against real sockets and real credentials: who is served and who is refused
// (file mode, SO_PEERCRED, supplementary groups), and that malformed, oversized, idle, surplus and
// vanishing clients leave the server serving. The server runs on an EventLoop driven by the test's
// main thread; clients run in threads, or in forked children where credentials must change.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "daemon/control_client.h"
#include "daemon/control_server.h"
#include "daemon/event_loop.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_env.h"

namespace gatekeeper::daemon {
namespace {

using common::UniqueFd;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
// A gid no account uses (checked in SetUp), so membership can only come from the test.
constexpr gid_t kControlGid = 4242;

sockaddr_un Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

// A blocking connect (the backlog is large and the server accepts on the main thread), then
// non-blocking for the exchange. errno is kept when it fails.
UniqueFd Connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  const sockaddr_un addr = Address(path);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return {};
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return fd;
}

struct TalkResult {
  int connect_errno = 0;
  std::string received;
  bool closed = false;  // the server closed (EOF or reset) before the deadline
  std::chrono::milliseconds elapsed{0};

  std::string Line() const { return received.substr(0, received.find('\n')); }
  nlohmann::json Json() const { return nlohmann::json::parse(Line(), nullptr, false); }
  std::string Error() const {
    const nlohmann::json j = Json();
    return j.is_object() && j.contains("error") && j["error"].is_string()
               ? j["error"].get<std::string>()
               : "<no error in: " + Line() + ">";
  }
};

// Sends `data` (whatever the server takes of it) and reads until the server closes.
TalkResult Talk(const std::string& path, const std::string& data,
                std::chrono::milliseconds timeout = 5s) {
  TalkResult r;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  UniqueFd fd = Connect(path);
  if (!fd) {
    r.connect_errno = errno;
    return r;
  }
  size_t sent = 0;
  bool sending = !data.empty();
  while (std::chrono::steady_clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd.get(), POLLIN, 0};
    if (sending) p.events |= POLLOUT;
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 1))) <= 0) continue;
    if (sending && (p.revents & (POLLOUT | POLLHUP | POLLERR))) {
      const ssize_t n = ::send(fd.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
      // EPIPE and the like: the server stopped taking the request; its reply may still be there.
      if (sent == data.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) sending = false;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
      if (n > 0) {
        r.received.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        r.closed = true;
        break;
      }
    }
  }
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return r;
}

// A forked child that takes on other credentials, runs `body`, and hands back what it returns.
// Killed and reaped by the destructor whatever happened to the test.
class Child {
 public:
  Child(uid_t uid, gid_t gid, const std::vector<gid_t>& groups,
        const std::function<std::string()>& body) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    UniqueFd reader(fds[0]);
    UniqueFd writer(fds[1]);
    pid_ = ::fork();
    if (pid_ == 0) {
      reader.reset();
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::string out;
      if (::setgroups(groups.size(), groups.data()) != 0 || ::setresgid(gid, gid, gid) != 0 ||
          ::setresuid(uid, uid, uid) != 0) {
        out = absl::StrCat("credential change failed: ", std::strerror(errno));
      } else {
        out = body();
      }
      for (size_t done = 0; done < out.size();) {
        const ssize_t n = ::write(writer.get(), out.data() + done, out.size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
      ::_exit(0);
    }
    ::fcntl(reader.get(), F_SETFL, O_NONBLOCK);
    reader_ = std::move(reader);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Reap();
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0 && reader_.valid(); }
  pid_t pid() const { return pid_; }
  // Collects what arrived; true once the child has closed its end (it is exiting).
  bool Done() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(reader_.get(), buf, sizeof(buf));
      if (n > 0) {
        output_.append(buf, static_cast<size_t>(n));
        continue;
      }
      return n == 0 || (errno != EAGAIN && errno != EINTR);
    }
  }
  // Reaps the child; its exit status.
  int Reap() {
    int status = -1;
    while (pid_ > 0 && ::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  UniqueFd reader_;
  std::string output_;
};

// What a child reports: the connect errno, or the reply line.
std::string TalkReport(const std::string& path, const std::string& request) {
  const TalkResult r = Talk(path, request);
  if (r.connect_errno != 0) return absl::StrCat("connect: ", std::strerror(r.connect_errno));
  return r.Line();
}

class ControlAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GK_REQUIRE_ROOT();
    // A missing MSG_NOSIGNAL anywhere would then kill the test, as it would the daemon.
    ::signal(SIGPIPE, SIG_DFL);
    ASSERT_EQ(::getgrgid(kControlGid), nullptr) << "gid " << kControlGid << " is in use here";
    char dir[] = "/tmp/gk-control-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr) << std::strerror(errno);
    dir_ = dir;
    // Children running as nobody must be able to reach the socket file inside.
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0) << std::strerror(errno);
    path_ = dir_ + "/control.sock";
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
  }

  void TearDown() override {
    server_.reset();
    loop_.reset();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  void StartServer(std::optional<gid_t> group, ControlLimits limits = {}) {
    auto server = ControlServer::Listen(
        *loop_, path_, group, [this](const nlohmann::json& r) { return Handle(r); },
        [this](const std::string& line) { logs_.push_back(line); }, limits);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  nlohmann::json Handle(const nlohmann::json& request) {
    ++handled_;
    const std::string command = request["command"];
    if (command == "big") return {{"blob", std::string(request.value("size", 0), 'x')}};
    if (command == "throw") return request.at("no such key");  // nlohmann::json::out_of_range
    return {{"ok", true}, {"command", command}};
  }

  // Drives the loop until `done` holds; false when `timeout` passed first.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      sd_event_run(loop_->get(), 10'000);  // wakes for events; the timeout only re-checks `done`
    }
    return true;
  }

  // Runs `client` on a thread while the loop serves it.
  template <typename F>
  auto Serve(F client, std::chrono::milliseconds timeout = 15s) {
    auto result = std::async(std::launch::async, std::move(client));
    EXPECT_TRUE(RunUntil([&] { return result.wait_for(0s) == std::future_status::ready; }, timeout))
        << "the client did not finish";
    return result.get();
  }

  // Runs a child with other credentials until it reported and exited.
  std::string ServeChild(uid_t uid, gid_t gid, const std::vector<gid_t>& groups,
                         const std::function<std::string()>& body) {
    Child child(uid, gid, groups, body);
    EXPECT_TRUE(child.started()) << std::strerror(errno);
    if (!child.started()) return "";
    EXPECT_TRUE(RunUntil([&] { return child.Done(); })) << "the child did not finish";
    last_child_pid_ = child.pid();
    const int status = child.Reap();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    return child.output();
  }

  std::string Request(const std::string& command) {
    return nlohmann::json{{"command", command}}.dump() + "\n";
  }

  void ExpectServed() {
    const TalkResult r = Serve([this] { return Talk(path_, Request("status")); });
    EXPECT_EQ(r.Json(), (nlohmann::json{{"ok", true}, {"command", "status"}})) << r.received;
    EXPECT_TRUE(r.closed);
  }

  struct stat StatSocket() {
    struct stat st {};
    EXPECT_EQ(::lstat(path_.c_str(), &st), 0) << std::strerror(errno);
    return st;
  }

  int CountLogs(const std::string& needle) const {
    return static_cast<int>(std::count_if(logs_.begin(), logs_.end(), [&](const std::string& l) {
      return absl::StrContains(l, needle);
    }));
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ControlServer> server_;
  std::vector<std::string> logs_;
  int handled_ = 0;
  pid_t last_child_pid_ = -1;
};

TEST_F(ControlAccessTest, RootIsServedAndTheSocketIsRootOnly) {
  StartServer(std::nullopt);
  const struct stat st = StatSocket();
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 0u);
  ExpectServed();
  EXPECT_TRUE(logs_.empty()) << logs_[0];
  // The CLI's client, too.
  auto reply = Serve([this] { return ControlRequest(path_, {{"command", "status"}}, 5000); });
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ((*reply)["ok"], true);
  server_.reset();
  EXPECT_FALSE(std::filesystem::exists(path_)) << "the socket file outlived the server";
}

TEST_F(ControlAccessTest, NobodyIsRefusedByTheFileAndAgainByTheServer) {
  StartServer(std::nullopt);
  // 0600: the kernel already says no.
  EXPECT_EQ(
      ServeChild(kNobody, kNogroup, {}, [this] { return TalkReport(path_, Request("status")); }),
      absl::StrCat("connect: ", std::strerror(EACCES)));
  auto cli_view = ServeChild(kNobody, kNogroup, {}, [this] {
    return std::string(ControlRequest(path_, {{"command", "status"}}, 5000).status().ToString());
  });
  EXPECT_THAT(cli_view, StartsWith("PERMISSION_DENIED: permission denied for the control socket"));
  EXPECT_EQ(handled_, 0);

  // Should the file be opened up by mistake, SO_PEERCRED still keeps nobody out.
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  const std::string reply =
      ServeChild(kNobody, kNogroup, {}, [this] { return TalkReport(path_, Request("status")); });
  const pid_t pid = last_child_pid_;
  EXPECT_EQ(nlohmann::json::parse(reply, nullptr, false),
            (nlohmann::json{{"error",
                             "permission denied: uid 65534 is not root, and gatekeeper.conf names "
                             "no [Control] Group="}}))
      << reply;
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_EQ(logs_[0], absl::StrCat("<4>control: refused uid 65534 gid 65534 pid ", pid,
                                   ": uid 65534 is not root, and gatekeeper.conf names no "
                                   "[Control] Group="));
  // The CLI turns the refusal into a readable PermissionDenied.
  cli_view = ServeChild(kNobody, kNogroup, {}, [this] {
    return std::string(ControlRequest(path_, {{"command", "status"}}, 5000).status().ToString());
  });
  EXPECT_EQ(cli_view,
            "PERMISSION_DENIED: permission denied: uid 65534 is not root, and gatekeeper.conf "
            "names no [Control] Group=");
  EXPECT_EQ(handled_, 0);
  ExpectServed();
}

TEST_F(ControlAccessTest, GroupMembersAreServed) {
  StartServer(kControlGid);
  const struct stat st = StatSocket();
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, kControlGid);

  const nlohmann::json served = {{"ok", true}, {"command", "status"}};
  auto talk = [this] { return TalkReport(path_, Request("status")); };
  // As a supplementary group…
  std::string reply = ServeChild(kNobody, kNogroup, {kControlGid}, talk);
  EXPECT_EQ(nlohmann::json::parse(reply, nullptr, false), served) << reply;
  // …among others…
  reply = ServeChild(kNobody, kNogroup, {100, kControlGid, 4343}, talk);
  EXPECT_EQ(nlohmann::json::parse(reply, nullptr, false), served) << reply;
  // …or as the primary group.
  reply = ServeChild(kNobody, kControlGid, {}, talk);
  EXPECT_EQ(nlohmann::json::parse(reply, nullptr, false), served) << reply;
  EXPECT_EQ(handled_, 3);
  EXPECT_TRUE(logs_.empty()) << logs_[0];

  // Not a member: the file refuses; opened up, the server refuses and names the group.
  EXPECT_EQ(ServeChild(kNobody, kNogroup, {100}, talk),
            absl::StrCat("connect: ", std::strerror(EACCES)));
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  reply = ServeChild(kNobody, kNogroup, {100}, talk);
  EXPECT_EQ(nlohmann::json::parse(reply, nullptr, false),
            (nlohmann::json{{"error",
                             "permission denied: uid 65534 is not root and not in group "
                             "4242"}}))
      << reply;
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_THAT(logs_[0], StartsWith("<4>control: refused uid 65534 gid 65534 pid "));
  EXPECT_EQ(handled_, 3);
}

TEST_F(ControlAccessTest, SetGroupFollowsAReloadBothWays) {
  StartServer(std::nullopt);
  auto talk = [this] { return TalkReport(path_, Request("status")); };
  const nlohmann::json served = {{"ok", true}, {"command", "status"}};

  ASSERT_TRUE(server_->SetGroup(kControlGid).ok());
  struct stat st = StatSocket();
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, kControlGid);
  std::string reply = ServeChild(kNobody, kNogroup, {kControlGid}, talk);
  EXPECT_EQ(nlohmann::json::parse(reply, nullptr, false), served) << reply;

  ASSERT_TRUE(server_->SetGroup(std::nullopt).ok());
  st = StatSocket();
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_gid, ::getegid());
  EXPECT_EQ(ServeChild(kNobody, kNogroup, {kControlGid}, talk),
            absl::StrCat("connect: ", std::strerror(EACCES)));
  // The server forgot the group too, not just the file.
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  reply = ServeChild(kNobody, kNogroup, {kControlGid}, talk);
  EXPECT_THAT(reply, HasSubstr("permission denied: uid 65534 is not root")) << reply;
  ExpectServed();
}

TEST_F(ControlAccessTest, ManyGroupsNeedTheRetryWithTheKernelsSize) {
  StartServer(kControlGid);
  // More groups than the first SO_PEERGROUPS buffer holds, the configured one last.
  std::vector<gid_t> groups;
  for (gid_t g = 5000; g < 5100; ++g) groups.push_back(g);
  groups.push_back(kControlGid);
  const std::string reply = ServeChild(kNobody, kNogroup, groups,
                                       [this] { return TalkReport(path_, Request("status")); });
  EXPECT_EQ(nlohmann::json::parse(reply, nullptr, false),
            (nlohmann::json{{"ok", true}, {"command", "status"}}))
      << reply;
}

TEST_F(ControlAccessTest, BadRequestsGetErrorsAndTheServerKeepsServing) {
  StartServer(std::nullopt);
  struct Case {
    std::string line;
    std::string error_prefix;
  };
  const Case cases[] = {
      {"{not json\n", "malformed request: parse error at line 1"},
      {"\n", "malformed request: "},
      {"[1,2]\n", "malformed request: expected a JSON object, got array"},
      {"\"status\"\n", "malformed request: expected a JSON object, got string"},
      {"{\"gate\":\"web\"}\n", "malformed request: the object has no \"command\""},
      {"{\"command\":7}\n", "malformed request: \"command\" must be a string, got number"},
      {"{\"command\":\"throw\"}\n", "internal error while handling \"throw\": "},
  };
  for (const Case& c : cases) {
    const TalkResult r = Serve([&] { return Talk(path_, c.line); });
    EXPECT_THAT(r.Error(), StartsWith(c.error_prefix)) << c.line;
    EXPECT_TRUE(r.closed) << c.line;
  }
  EXPECT_EQ(handled_, 1);  // only "throw" got as far as the handler
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_THAT(logs_[0], StartsWith("<3>control: handling \"throw\" failed: "));
  ExpectServed();
  EXPECT_TRUE(RunUntil([&] { return server_->client_count() == 0; }));
}

TEST_F(ControlAccessTest, OversizedRequestIsRefused) {
  StartServer(std::nullopt);
  const TalkResult r = Serve([this] { return Talk(path_, std::string(size_t{100} * 1024, 'x')); });
  EXPECT_EQ(r.Error(), "request too large (limit 65536 bytes)");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(handled_, 0);
  // Exactly at the limit is still a request (here a malformed one, but parsed).
  const TalkResult at_limit =
      Serve([this] { return Talk(path_, std::string(kMaxRequestBytes, ' ') + "\n"); });
  EXPECT_THAT(at_limit.Error(), StartsWith("malformed request: "));
  ExpectServed();
}

TEST_F(ControlAccessTest, IdleClientsAreDroppedAfterTheTimeout) {
  StartServer(std::nullopt, {.client_timeout = absl::Milliseconds(300), .max_clients = 1024});
  auto [silent, partial] = Serve([this] {
    auto silent = std::async(std::launch::async, [this] { return Talk(path_, "", 5s); });
    TalkResult partial = Talk(path_, R"({"command":"stat)", 5s);
    return std::make_pair(silent.get(), partial);
  });
  for (const TalkResult& r : {silent, partial}) {
    EXPECT_TRUE(r.closed);
    EXPECT_GE(r.elapsed, 250ms);
    EXPECT_LT(r.elapsed, 4s);
    EXPECT_THAT(r.Error(), HasSubstr("timed out waiting for the request line"));
  }
  EXPECT_EQ(server_->client_count(), 0u);
  EXPECT_TRUE(logs_.empty()) << logs_[0];
  ExpectServed();
}

TEST_F(ControlAccessTest, AThousandConcurrentClients) {
  // Both ends of every connection live in this process.
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  rlimit limit = old_limit;
  limit.rlim_cur = std::max<rlim_t>(limit.rlim_cur, 4096);
  limit.rlim_max = std::max(limit.rlim_max, limit.rlim_cur);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0) << std::strerror(errno);
  struct RestoreLimit {
    rlimit old;
    ~RestoreLimit() { ::setrlimit(RLIMIT_NOFILE, &old); }
  } restore{old_limit};

  StartServer(std::nullopt);
  constexpr int kClients = 1000;
  struct Outcome {
    int connect_failed = 0;
    int replied = 0;
    int closed_without_reply = 0;
    int unfinished = 0;
  };
  const Outcome outcome = Serve(
      [this] {
        Outcome o;
        const std::string request = Request("status");
        std::vector<UniqueFd> fds;
        std::vector<std::string> received(kClients);
        for (int i = 0; i < kClients; ++i) {
          UniqueFd fd = Connect(path_);
          if (!fd) {
            ++o.connect_failed;
            continue;
          }
          // Small enough to always fit the socket buffer at once.
          (void)!::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL);
          fds.push_back(std::move(fd));
        }
        received.resize(fds.size());
        std::vector<bool> open(fds.size(), true);
        size_t open_count = fds.size();
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (open_count > 0 && std::chrono::steady_clock::now() < deadline) {
          std::vector<pollfd> pfds;
          std::vector<size_t> index;
          for (size_t i = 0; i < fds.size(); ++i) {
            if (!open[i]) continue;
            pfds.push_back({fds[i].get(), POLLIN, 0});
            index.push_back(i);
          }
          if (::poll(pfds.data(), pfds.size(), 100) <= 0) continue;
          for (size_t k = 0; k < pfds.size(); ++k) {
            if (pfds[k].revents == 0) continue;
            const size_t i = index[k];
            char buf[4096];
            const ssize_t n = ::recv(fds[i].get(), buf, sizeof(buf), 0);
            if (n > 0) {
              received[i].append(buf, static_cast<size_t>(n));
              continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            open[i] = false;
            --open_count;
            nlohmann::json reply = nlohmann::json::parse(
                received[i].substr(0, received[i].find('\n')), nullptr, false);
            if (reply.is_object() && reply.value("ok", false)) {
              ++o.replied;
            } else {
              ++o.closed_without_reply;
            }
          }
        }
        o.unfinished = static_cast<int>(open_count);
        return o;
      },
      30s);
  EXPECT_EQ(outcome.connect_failed, 0);
  EXPECT_EQ(outcome.unfinished, 0);
  // All fit under the default bound of 1024 clients, so all are answered.
  EXPECT_EQ(outcome.replied, kClients);
  EXPECT_EQ(handled_, kClients);
  EXPECT_TRUE(RunUntil([&] { return server_->client_count() == 0; }));
  EXPECT_TRUE(logs_.empty()) << logs_[0];
  ExpectServed();
}

TEST_F(ControlAccessTest, ConnectionsBeyondTheBoundAreClosedAtOnce) {
  StartServer(std::nullopt, {.client_timeout = absl::Seconds(30), .max_clients = 4});
  const auto start = std::chrono::steady_clock::now();
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(Connect(path_));
    ASSERT_TRUE(idle.back().valid()) << std::strerror(errno);
  }
  ASSERT_TRUE(RunUntil([&] { return server_->client_count() == 4; }));
  std::vector<UniqueFd> surplus;
  for (int i = 0; i < 10; ++i) {
    surplus.push_back(Connect(path_));
    ASSERT_TRUE(surplus.back().valid()) << std::strerror(errno);
  }
  // Each surplus connection sees a close without a reply, and the bound holds meanwhile.
  std::vector<bool> closed(surplus.size(), false);
  EXPECT_TRUE(RunUntil([&] {
    for (size_t i = 0; i < surplus.size(); ++i) {
      char c;
      if (!closed[i] && ::recv(surplus[i].get(), &c, 1, 0) == 0) closed[i] = true;
    }
    return std::all_of(closed.begin(), closed.end(), [](bool b) { return b; });
  }));
  EXPECT_EQ(server_->client_count(), 4u);
  // The CLI says so instead of waiting for its timeout.
  const absl::Status cli = Serve([this] {
    return ControlRequest(path_, {{"command", "status"}}, 5000).status();
  });
  EXPECT_EQ(cli.code(), absl::StatusCode::kUnavailable) << cli;
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
          .count();
  const int lines = CountLogs("clients connected already; closing new connections");
  EXPECT_GE(lines, 1);
  EXPECT_LE(lines, 1 + seconds) << "not rate limited";
  EXPECT_EQ(CountLogs("<4>control: 4 clients connected already"), lines);

  idle.clear();
  ASSERT_TRUE(RunUntil([&] { return server_->client_count() == 0; }));
  ExpectServed();
}

TEST_F(ControlAccessTest, LargeRepliesAreFinishedWhenTheClientReads) {
  StartServer(std::nullopt);
  static constexpr int kSize = 2'000'000;  // far more than a socket buffer
  const TalkResult r = Serve([this] {
    return Talk(path_, nlohmann::json{{"command", "big"}, {"size", kSize}}.dump() + "\n");
  });
  EXPECT_TRUE(r.closed);
  const nlohmann::json reply = r.Json();
  ASSERT_TRUE(reply.is_object()) << r.received.size() << " bytes";
  EXPECT_EQ(reply["blob"].get<std::string>().size(), static_cast<size_t>(kSize));
  EXPECT_EQ(r.received.size(), r.Line().size() + 1);  // one line, then the close
}

TEST_F(ControlAccessTest, ClientsThatHangUpEarlyLeaveNoTrace) {
  StartServer(std::nullopt);
  const std::string big = nlohmann::json{{"command", "big"}, {"size", 2'000'000}}.dump() + "\n";
  {
    // Gone before connecting was even noticed.
    UniqueFd quiet = Connect(path_);
    ASSERT_TRUE(quiet.valid());
    // Gone right after asking: the reply meets a closed socket.
    UniqueFd asked = Connect(path_);
    ASSERT_TRUE(asked.valid());
    ASSERT_EQ(::send(asked.get(), big.data(), big.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(big.size()));
    // Half a line, then gone.
    UniqueFd half = Connect(path_);
    ASSERT_TRUE(half.valid());
    ASSERT_EQ(::send(half.get(), "{\"comm", 6, MSG_NOSIGNAL), 6);
  }
  // Gone in the middle of a reply too big to be written at once.
  Serve([this, &big] {
    UniqueFd fd = Connect(path_);
    if (!fd) return;
    (void)!::send(fd.get(), big.data(), big.size(), MSG_NOSIGNAL);
    size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (got < 1000 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      char buf[1000];
      const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
  });
  EXPECT_TRUE(RunUntil([&] { return server_->client_count() == 0; }));
  EXPECT_EQ(handled_, 2);
  EXPECT_TRUE(logs_.empty()) << logs_[0];
  ExpectServed();
}

TEST_F(ControlAccessTest, StaleSocketIsReplacedButALiveOneIsNot) {
  {
    // A socket file whose listener is gone, as a killed daemon leaves it.
    UniqueFd old(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un addr = Address(path_);
    ASSERT_EQ(::bind(old.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(old.get(), 1), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(path_));
  StartServer(std::nullopt);
  ExpectServed();

  auto second = ControlServer::Listen(
      *loop_, path_, std::nullopt, [](const nlohmann::json&) { return nlohmann::json(); },
      [](const std::string&) {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  ExpectServed();  // the first one still has its socket

  const std::string file = dir_ + "/not-a-socket";
  std::ofstream(file) << "keep me";
  auto third = ControlServer::Listen(
      *loop_, file, std::nullopt, [](const nlohmann::json&) { return nlohmann::json(); },
      [](const std::string&) {});
  ASSERT_FALSE(third.ok());
  EXPECT_THAT(std::string(third.status().message()), HasSubstr("is not a socket"));
  EXPECT_TRUE(std::filesystem::is_regular_file(file));
}

}  // namespace
}  // namespace gatekeeper::daemon
