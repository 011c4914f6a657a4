// Hostile input against the real daemon binary: broken, huge, looping and non-UTF-8 gate files
// and a few hundred gates through reload, a gate file rewritten while reloads run, shell
// metacharacters in ExecStart=, a User= that does not exist, and hostile control-socket clients.
// Whatever comes in, the running gate keeps serving, its status does not change, and the daemon
// keeps answering. (The control server's own limits are tested in depth, in process, by
// tests/integration/daemon/control_access_test.cc; here only the end-to-end check.)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/daemon_fixture.h"

namespace gatekeeper::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::string_literals;

constexpr uint16_t kPort = 8080;

// A directory of the test's own, removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = "/tmp/gk-hostile-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    EXPECT_FALSE(path_.empty());
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Blocking connect to a unix socket, then non-blocking.
common::UniqueFd ConnectUnix(const std::string& path) {
  common::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return {};
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return fd;
}

// One control client driven by Pump(): sends its bytes, collects the reply until the server
// closes.
struct Client {
  common::UniqueFd fd;
  std::string out;
  size_t sent = 0;
  std::string in;
  bool closed = false;

  std::string Line() const { return in.substr(0, in.find('\n')); }
  nlohmann::json Reply() const { return nlohmann::json::parse(Line(), nullptr, false); }
  std::string Error() const {
    const nlohmann::json j = Reply();
    return j.is_object() && j.contains("error") && j["error"].is_string()
               ? j["error"].get<std::string>()
               : "<no error in: " + Line() + ">";
  }
};

// Drives `clients` until every one in `wait_for` (all when empty) is closed or `timeout` passed.
void Pump(std::vector<Client*> clients, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<Client*> owners;
    for (Client* c : clients) {
      if (c->closed || !c->fd) continue;
      short events = POLLIN;
      if (c->sent < c->out.size()) events |= POLLOUT;
      fds.push_back({c->fd.get(), events, 0});
      owners.push_back(c);
    }
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (fds.empty() || left.count() <= 0) return;
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      Client& c = *owners[i];
      if ((fds[i].revents & POLLOUT) && c.sent < c.out.size()) {
        const ssize_t n =
            ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) c.sent += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EINTR) c.sent = c.out.size();  // server stopped
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        const ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
        if (n > 0) {
          c.in.append(buf, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          c.closed = true;
        }
      }
    }
  }
}

class HostileInputTest : public DaemonTest {
 protected:
  // The gate everything else must leave alone: the client may reach it, nobody else.
  static std::string ServedGate(const std::string& more_socket_lines = "") {
    return absl::StrCat("[Socket]\nListenStream=", kServer, ":", kPort,
                        "\nIPAddressDeny=any\nIPAddressAllow=", kClient, "\n", more_socket_lines,
                        "[Service]\nExecStart=", TestServiceBinary(), "\n");
  }

  // Starts the daemon with the served gate and a first connection to it.
  void StartServed() {
    StartDaemon({{"svc.gate", ServedGate()}});
    ASSERT_TRUE(daemon_->WaitGateState("svc", "listening"));
    kept_ = Connect(kPort);
    answer_ = Ask(kept_.get());
    ASSERT_THAT(answer_, StartsWith("svc ")) << daemon_->Log();
    // Running now: the service took the first connection.
    baseline_ = Fingerprint();
    ASSERT_EQ(baseline_.value("state", ""), "running") << baseline_.dump();
  }

  // What must not change: the gates there are, and the served gate's state, listeners and
  // service process.
  nlohmann::json Fingerprint() const {
    absl::StatusOr<nlohmann::json> status = daemon_->Status();
    if (!status.ok() || !(*status)["gates"].is_array()) return {{"status", "unreadable"}};
    nlohmann::json out = {{"gates", nlohmann::json::array()}};
    for (const nlohmann::json& g : (*status)["gates"]) {
      out["gates"].push_back(g.value("name", ""));
      if (g.value("name", "") != "svc") continue;
      out["state"] = g.value("state", "");
      out["listen"] = g.value("listen", nlohmann::json::array());
      const nlohmann::json service = g.value("service", nlohmann::json::object());
      out["service_pid"] = service.value("pid", 0);
      out["service_restarts"] = service.value("restarts", 0);
    }
    return out;
  }

  // The served gate is as it was: same status, the kept connection and a new one both answered
  // by the same service process.
  void ExpectUnchanged(const std::string& after) {
    EXPECT_EQ(Fingerprint(), baseline_) << "after " << after;
    EXPECT_EQ(Ask(kept_.get()), answer_) << "after " << after;
    common::UniqueFd fresh = Connect(kPort);
    EXPECT_EQ(Ask(fresh.get()), answer_) << "after " << after;
  }

  // A reload; its whole reply, "errors" included (ControlRequest keeps only the "error" text).
  nlohmann::json Reload() const {
    Client c{ConnectUnix(daemon_->runtime_dir() + "/control.sock"), "{\"command\":\"reload\"}\n"};
    EXPECT_TRUE(c.fd);
    Pump({&c}, std::chrono::seconds(60));
    EXPECT_TRUE(c.closed);
    const nlohmann::json reply = c.Reply();
    EXPECT_TRUE(reply.is_object()) << c.in;
    return reply.is_object() ? reply : nlohmann::json::object();
  }

  // A reload that must be refused; its "errors" lines ("PATH:LINE: message", or "PATH: message"
  // for a directory), each checked to start with a path in the configuration directory.
  std::vector<std::string> RefusedReload(const std::string& what) {
    const nlohmann::json reply = Reload();
    EXPECT_TRUE(reply.contains("error")) << what << ": " << reply.dump();
    EXPECT_THAT(reply.value("error", ""), HasSubstr("nothing was changed")) << what;
    std::vector<std::string> errors;
    if (reply.contains("errors") && reply["errors"].is_array()) {
      for (const nlohmann::json& e : reply["errors"]) errors.push_back(e.get<std::string>());
    }
    EXPECT_FALSE(errors.empty()) << what << ": " << reply.dump();
    EXPECT_THAT(errors, Each(StartsWith(daemon_->config_dir() + "/"))) << what;
    return errors;
  }

  std::string Path(const std::string& name) const { return daemon_->config_dir() + "/" + name; }

  common::UniqueFd kept_;
  std::string answer_;
  nlohmann::json baseline_;
};

TEST_F(HostileInputTest, HostileGateFilesAreRefusedWithFileAndLineAndChangeNothing) {
  if (!srv_) return;
  StartServed();
  if (HasFatalFailure()) return;

  // Random bytes with NULs, as a new gate and as a drop-in of the running one.
  std::mt19937 rng(4711);
  std::string noise(256 * 1024, '\0');
  for (size_t i = 1; i < noise.size(); ++i) noise[i] = static_cast<char>(rng() & 0xff);
  daemon_->WriteConfig("noise.gate", noise);
  daemon_->WriteConfig("svc.gate.d/10-noise.conf", noise.substr(0, 4096));
  {
    const std::vector<std::string> errors = RefusedReload("binary data");
    EXPECT_THAT(errors, Contains(StartsWith(Path("noise.gate:1: "))));
    EXPECT_THAT(errors, Contains(HasSubstr("more errors in this file are not shown")));
    EXPECT_THAT(errors, Contains(StartsWith(Path("svc.gate.d/10-noise.conf:"))));
  }
  daemon_->RemoveConfig("noise.gate");
  daemon_->RemoveConfig("svc.gate.d/10-noise.conf");
  ExpectUnchanged("binary data");

  // A 10 MB line.
  {
    std::ofstream out(Path("huge.gate"), std::ios::binary);
    out << "[Socket]\nListenStream=" << kServer << ":8081\nFileDescriptorName=";
    const std::string chunk(1 << 16, 'x');
    for (int i = 0; i < 160; ++i) out << chunk;  // 10.5 MB
    out << "\n";
  }
  EXPECT_THAT(RefusedReload("a 10 MB line"),
              ElementsAre(StartsWith(Path("huge.gate:1: the gate has nothing to listen on")),
                          StartsWith(Path("huge.gate:3: file is larger than 1 MiB"))));
  daemon_->RemoveConfig("huge.gate");
  ExpectUnchanged("a 10 MB line");

  // Non-UTF-8: a value in a drop-in of the running gate, and a gate's file name. The reply is
  // JSON, so the name's invalid byte comes back as U+FFFD.
  daemon_->WriteConfig("svc.gate.d/20-latin1.conf", "[Socket]\nIPAddressAllow=caf\xe9\n");
  daemon_->WriteConfig("caf\xe9.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8082\n"));
  EXPECT_THAT(RefusedReload("non-UTF-8"),
              ElementsAre(AllOf(StartsWith(Path("caf\xef\xbf\xbd.gate:1: invalid gate name "
                                                "\"caf\\xe9\"")),
                                HasSubstr("letters, digits")),
                          Path("svc.gate.d/20-latin1.conf:2: line is not valid UTF-8")));
  daemon_->RemoveConfig("caf\xe9.gate");
  daemon_->RemoveConfig("svc.gate.d/20-latin1.conf");
  ExpectUnchanged("non-UTF-8");

  // Symlink loops: a drop-in of the running gate that points at itself, and a new gate whose
  // drop-in directory is a link to itself (a directory has no lines: its error has none).
  ASSERT_EQ(::symlink("30-loop.conf", Path("svc.gate.d/30-loop.conf").c_str()), 0);
  daemon_->WriteConfig("loopy.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8083\n"));
  ASSERT_EQ(::symlink("loopy.gate.d", Path("loopy.gate.d").c_str()), 0);
  EXPECT_THAT(RefusedReload("symlink loops"),
              ElementsAre(AllOf(StartsWith(Path("loopy.gate.d: cannot read drop-in directory: ")),
                                HasSubstr("symbolic links")),
                          AllOf(StartsWith(Path("svc.gate.d/30-loop.conf:1: cannot read: ")),
                                HasSubstr("symbolic links"))));
  daemon_->RemoveConfig("svc.gate.d/30-loop.conf");
  daemon_->RemoveConfig("loopy.gate.d");
  daemon_->RemoveConfig("loopy.gate");
  ExpectUnchanged("symlink loops");

  // A user that does not exist.
  daemon_->WriteConfig("svc.gate.d/40-user.conf", "[Service]\nUser=gk-no-such-user-4711\n");
  EXPECT_THAT(RefusedReload("User="),
              ElementsAre(AllOf(StartsWith(Path("svc.gate.d/40-user.conf:2: ")),
                                HasSubstr("no such user \"gk-no-such-user-4711\""))));
  daemon_->RemoveConfig("svc.gate.d/40-user.conf");
  ExpectUnchanged("User=");

  // After all that, a plain reload applies nothing and the daemon is as it was.
  const nlohmann::json reply = Reload();
  EXPECT_FALSE(reply.contains("error")) << reply.dump();
  EXPECT_EQ(reply["changes"], nlohmann::json::array()) << reply.dump();
  ExpectUnchanged("the final reload");
}

TEST_F(HostileInputTest, HundredsOfGatesComeAndGoInBoundedTime) {
  if (!srv_) return;
  StartServed();
  if (HasFatalFailure()) return;
  constexpr int kGates = 200;
  auto name = [](int i) { return absl::StrCat("many", 1000 + i, ".gate"); };
  for (int i = 0; i < kGates; ++i) {
    daemon_->WriteConfig(name(i), absl::StrCat("[Socket]\nListenStream=", kServer, ":", 20000 + i,
                                               "\nIPAddressDeny=any\n"
                                               "IPAddressAllow=198.51.100.0/24\n"));
  }
  // One broken gate among them: none of the others may appear.
  daemon_->WriteConfig("many9999.gate", "[Socket]\nListenStream=20999\nBacklog=lots\n");
  EXPECT_THAT(RefusedReload("one broken gate among many"),
              ElementsAre(StartsWith(Path("many9999.gate:3: Backlog="))));
  ExpectUnchanged("one broken gate among many");
  daemon_->RemoveConfig("many9999.gate");

  auto start = std::chrono::steady_clock::now();
  nlohmann::json reply = Reload();
  const double add_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(reply.contains("error")) << reply.dump().substr(0, 2000);
  EXPECT_EQ(reply["changes"].size(), static_cast<size_t>(kGates));
  absl::StatusOr<nlohmann::json> status = daemon_->Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ((*status)["gates"].size(), static_cast<size_t>(kGates + 1));
  // Every new gate filters: the client (192.0.2.2) is not on its list.
  common::UniqueFd denied = StartConnect(*cli_, kClient, kServer, 20000 + kGates / 2);
  EXPECT_FALSE(WaitConnected(denied.get(), milliseconds(300)));
  const int fds = static_cast<int>(std::distance(
      std::filesystem::directory_iterator(absl::StrCat("/proc/", daemon_->pid(), "/fd")),
      std::filesystem::directory_iterator()));

  for (int i = 0; i < kGates; ++i) daemon_->RemoveConfig(name(i));
  start = std::chrono::steady_clock::now();
  reply = Reload();
  ASSERT_FALSE(reply.contains("error")) << reply.dump().substr(0, 2000);
  // Removed gates go once their (absent) services have stopped: the status shows when.
  ASSERT_TRUE(WaitFor([&] { return Fingerprint() == baseline_; }, std::chrono::seconds(60)))
      << Fingerprint().dump().substr(0, 2000);
  const double remove_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%d gates: added by one reload in %.2f s (daemon then had %d fds open), removed in "
      "%.2f s\n",
      kGates, add_seconds, fds, remove_seconds);
  ExpectUnchanged("adding and removing many gates");
}

// Two valid versions that differ only in their access lists (both let the client in), and a
// broken one. The file is replaced by rename, as editors do, while reloads run.
TEST_F(HostileInputTest, GateFileReplacedDuringReloadsIsAppliedWholeOrRefused) {
  if (!srv_) return;
  StartServed();
  if (HasFatalFailure()) return;
  const std::string version_a = ServedGate("IPAddressAllow=198.51.100.0/24\n");
  const std::string version_b = ServedGate("IPAddressAllow=203.0.113.0/24\n");
  // Line 5, in [Socket]: only the access lists differ between the versions, or an error.
  const std::string broken = ServedGate("Backlog=lots\n");

  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    const std::string* versions[] = {&version_a, &version_b, &broken};
    for (int i = 0; i < 100000 && !stop; ++i) {
      daemon_->WriteConfig("svc.gate", *versions[i % 3]);
      ++writes;
    }
  });
  struct JoinWriter {
    std::atomic<bool>& stop;
    std::thread& writer;
    ~JoinWriter() {
      stop = true;
      writer.join();
    }
  } join{stop, writer};

  auto verdict = [&](const std::string& address) {
    absl::StatusOr<nlohmann::json> r =
        daemon_->Request({{"command", "explain"}, {"gate", "svc"}, {"address", address}}, 10000);
    if (!r.ok() || !r->contains("ingress")) return std::string("?");
    return (*r)["ingress"].value("verdict", "?");
  };
  int applied = 0;
  int refused = 0;
  bool left_first = false;
  for (int i = 0; i < 30; ++i) {
    const nlohmann::json reply = Reload();
    if (reply.contains("error")) {
      ++refused;
      std::vector<std::string> errors;
      for (const nlohmann::json& e : reply.value("errors", nlohmann::json::array())) {
        errors.push_back(e.get<std::string>());
      }
      EXPECT_THAT(errors, ElementsAre(StartsWith(Path("svc.gate:5: Backlog=")))) << reply.dump();
    } else {
      ++applied;
    }
    // Whatever the daemon enforces now is one version, whole: exactly one of the two extra
    // networks is allowed. Neither is only possible while the daemon still has the first
    // version (a reload may come before the writer's first write); no version goes back to it.
    const std::string a = verdict("198.51.100.7");
    const std::string b = verdict("203.0.113.7");
    const bool whole = (a == "allow" && b == "deny") || (a == "deny" && b == "allow");
    EXPECT_TRUE(whole || (!left_first && a == "deny" && b == "deny"))
        << "198.51.100.7: " << a << ", 203.0.113.7: " << b;
    left_first = left_first || whole;
  }
  stop = true;
  std::printf("rewrites during reloads: %d writes, %d reloads applied, %d refused\n", writes.load(),
              applied, refused);
  EXPECT_GT(writes, 0);
  // Only the access lists ever changed: the service, its process and the connection stayed.
  EXPECT_EQ(Fingerprint(), baseline_);
  EXPECT_EQ(Ask(kept_.get()), answer_);
}

TEST_F(HostileInputTest, ExecStartMetacharactersArePassedLiterally) {
  if (!srv_) return;
  ScratchDir traps;
  ASSERT_FALSE(traps.path().empty());
  const std::string t = traps.path();
  // As written in the gate file, and the argument each must become. Quotes are systemd's word
  // splitting, not a shell's; "\;" is systemd's escape for a lone ";" and "$$" its escape for
  // "$" (a whole word "$(id)" would be read as a variable, names none, and be left out).
  const std::vector<std::pair<std::string, std::string>> args = {
      {"a;b", "a;b"},
      {"\\;", ";"},
      {"|", "|"},
      {"&&", "&&"},
      {"2>&1", "2>&1"},
      {absl::StrCat("\"$$(touch ", t, "/subst)\""), absl::StrCat("$(touch ", t, "/subst)")},
      {"$$(id)", "$(id)"},
      {absl::StrCat("\"x$(touch ", t, "/subst)\""), absl::StrCat("x$(touch ", t, "/subst)")},
      {absl::StrCat("'`touch ", t, "/backtick`'"), absl::StrCat("`touch ", t, "/backtick`")},
      {"`id`", "`id`"},
      {">", ">"},
      {absl::StrCat(t, "/redirected"), absl::StrCat(t, "/redirected")},
      {absl::StrCat(">", t, "/glued"), absl::StrCat(">", t, "/glued")},
      {absl::StrCat("'x; touch ", t, "/semicolon'"), absl::StrCat("x; touch ", t, "/semicolon")},
      {"\"double quoted\"", "double quoted"},
      {"*", "*"},
      {"/etc/*", "/etc/*"},
  };
  std::string line = absl::StrCat("ExecStart=", TestServiceBinary(), " --print-env");
  std::vector<std::string> expected;
  for (const auto& [written, literal] : args) {
    absl::StrAppend(&line, " ", written);
    expected.push_back(literal);
  }
  StartDaemon({{"meta.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8090\n[Service]\n",
                                          line, "\nStart=immediately\n")}});
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(daemon_->Log(), "meta: END"); }))
      << daemon_->Log();
  std::vector<std::string> got;
  for (absl::string_view l : absl::StrSplit(daemon_->Log(), '\n')) {
    const size_t at = l.find("meta: ARG=");
    if (at != absl::string_view::npos) got.emplace_back(l.substr(at + 10));
  }
  EXPECT_EQ(got, expected);
  // Nothing ran a shell: no redirection or substitution left a file behind.
  for (const char* file : {"subst", "backtick", "redirected", "glued", "semicolon"}) {
    EXPECT_FALSE(std::filesystem::exists(absl::StrCat(t, "/", file))) << file;
  }
  EXPECT_TRUE(std::filesystem::is_empty(t));
}

// `gatekeeper check` needs no daemon and no root.
TEST(HostileCheckTest, UnknownUserIsAConfigErrorWithFileAndLine) {
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  {
    std::ofstream(dir.path() + "/web.gate")
        << "[Socket]\nListenStream=192.0.2.1:8443\n[Service]\nExecStart=/bin/true\n"
           "User=gk-no-such-user-4711\n";
  }
  std::string out;
  EXPECT_EQ(
      ::gatekeeper::testing::Run({GatekeeperBinary(), "check", "--config-dir", dir.path()}, &out),
      1);
  EXPECT_THAT(out, HasSubstr(dir.path() + "/web.gate:5: "));
  EXPECT_THAT(out, HasSubstr("no such user \"gk-no-such-user-4711\""));
}

// Regression, found by control_protocol_fuzzer: ParseRequest caught only parse_error, but a
// number out of range ("1e999") throws out_of_range (error 406) from the parser; the exception
// unwound into sd-event's C dispatch and terminated the daemon. Any client the control socket
// admits (root, or a [Control] Group= member) could kill it. Expected: an error reply.
TEST_F(HostileInputTest, NumberOutOfRangeInARequestIsAnErrorNotACrash) {
  if (!srv_) return;
  StartServed();
  if (HasFatalFailure()) return;
  Client c{ConnectUnix(daemon_->runtime_dir() + "/control.sock"),
           "{\"command\":\"status\",\"n\":1e999}\n"};
  ASSERT_TRUE(c.fd);
  Pump({&c}, std::chrono::seconds(10));
  EXPECT_TRUE(c.closed);
  EXPECT_THAT(c.Error(), StartsWith("malformed request: ")) << c.in;
  EXPECT_TRUE(::kill(daemon_->pid(), 0) == 0 && daemon_->Status().ok()) << daemon_->Log();
}

TEST_F(HostileInputTest, ControlSocketSurvivesGarbageSilenceAndACrowd) {
  if (!srv_) return;
  StartServed();
  if (HasFatalFailure()) return;
  const std::string path = daemon_->runtime_dir() + "/control.sock";

  // A client that connects and never speaks, held through everything below.
  Client silent{ConnectUnix(path)};
  ASSERT_TRUE(silent.fd);
  const auto silent_since = std::chrono::steady_clock::now();

  // Garbage, bytes that are not UTF-8, a request nested 30,000 deep (within the 64 KiB limit),
  // an oversized one, and one cut off mid-line by the client.
  std::string deep =
      R"({"command":"status","x":)" + std::string(30000, '[') + std::string(30000, ']') + "}\n";
  std::vector<std::pair<std::string, std::string>> bad = {
      {"\0\xff\x1b[2J garbage\n"s, "malformed request: "},
      {"{\"command\":\"\xff\xfe\"}\n", "malformed request: "},
      {std::move(deep), ""},  // a valid request: answered with the status
      {std::string(100 * 1024, '{'), "request too large (limit 65536 bytes)"},
  };
  std::vector<Client> bad_clients;
  for (const auto& [request, error] : bad) {
    bad_clients.push_back(Client{ConnectUnix(path), request});
    ASSERT_TRUE(bad_clients.back().fd);
  }
  Client cut{ConnectUnix(path), R"({"command":"sta)"};
  ASSERT_TRUE(cut.fd);
  ASSERT_EQ(::send(cut.fd.get(), cut.out.data(), cut.out.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(cut.out.size()));
  cut.sent = cut.out.size();

  // And a crowd of 200 at once.
  constexpr int kCrowd = 200;
  std::vector<Client> crowd;
  for (int i = 0; i < kCrowd; ++i) {
    crowd.push_back(Client{ConnectUnix(path), "{\"command\":\"status\"}\n"});
    ASSERT_TRUE(crowd.back().fd) << i << ": " << std::strerror(errno);
  }
  std::vector<Client*> busy;
  for (Client& c : bad_clients) busy.push_back(&c);
  for (Client& c : crowd) busy.push_back(&c);
  Pump(busy, std::chrono::seconds(20));

  for (size_t i = 0; i < bad.size(); ++i) {
    const Client& c = bad_clients[i];
    EXPECT_TRUE(c.closed) << i;
    // Every reply is one line of JSON, whatever the request held.
    EXPECT_FALSE(c.Reply().is_discarded()) << i << ": " << c.Line();
    EXPECT_EQ(c.in.find('\n'), c.in.size() - 1) << i;
    if (bad[i].second.empty()) {
      EXPECT_EQ(c.Reply()["gates"].size(), 1u) << c.Line().substr(0, 200);
    } else {
      EXPECT_THAT(c.Error(), StartsWith(bad[i].second)) << i;
    }
  }
  int served = 0;
  for (const Client& c : crowd) {
    const nlohmann::json reply = c.Reply();
    if (c.closed && reply.is_object() && reply.contains("gates")) ++served;
  }
  EXPECT_EQ(served, kCrowd);

  // While the silent and the cut-off clients still hold their connections (the daemon has
  // neither answered nor closed them), status is served.
  if (std::chrono::steady_clock::now() - silent_since < std::chrono::seconds(4)) {
    for (const Client* c : {&silent, &cut}) {
      pollfd p{c->fd.get(), POLLIN, 0};
      EXPECT_EQ(::poll(&p, 1, 0), 0) << "dropped before its deadline";
    }
  }
  EXPECT_EQ(Fingerprint(), baseline_);
  // Then the daemon drops both after its 5 s deadline, with an error they may read.
  Pump({&silent, &cut}, std::chrono::seconds(15));
  EXPECT_TRUE(silent.closed);
  EXPECT_TRUE(cut.closed);
  EXPECT_GE(std::chrono::steady_clock::now() - silent_since, std::chrono::seconds(4));
  EXPECT_THAT(silent.Error(), HasSubstr("timed out waiting for the request line"));
  EXPECT_THAT(cut.Error(), HasSubstr("timed out waiting for the request line"));
  ExpectUnchanged("hostile control clients");
  EXPECT_TRUE(::kill(daemon_->pid(), 0) == 0);
}

}  // namespace
}  // namespace gatekeeper::testing
