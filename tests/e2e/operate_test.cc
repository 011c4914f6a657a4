// Operating the daemon, end to end on a veth pair: SIGKILL in the middle of traffic never opens a
// gate to a denied peer, a denial flood gives exact counters and a bounded log, the control
// socket serves only root and its [Control] Group=, and --metrics-listen serves /metrics.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/bpf.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "daemon/control_client.h"
#include "daemon/denial_log.h"
#include "gtest/gtest.h"
#include "kernel/cgroup.h"
#include "kernel/mountinfo.h"
#include "tests/e2e/daemon_fixture.h"

namespace gatekeeper::testing {
namespace {

using common::UniqueFd;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kServer[] = "192.0.2.1";
constexpr char kClient[] = "192.0.2.2";
constexpr char kDenied[] = "192.0.2.3";  // a second address of the client namespace
constexpr uid_t kNobody = 65534;
constexpr gid_t kControlGid = 4242;

int64_t Ms(steady_clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

uint64_t DeniedIngressPackets(const nlohmann::json& gate) {
  if (!gate.contains("counters")) return 0;
  return gate["counters"]["ingress"]["denied"].value("packets", uint64_t{0});
}

// Keeps trying to connect from the denied address until stopped (or a hard cap on attempts and
// time): a new non-blocking connect every 20 ms, each watched for 100 ms, so that several are
// always in flight across a restart. Every handshake that completes is a breach.
class DeniedProber {
 public:
  DeniedProber(const Netns& client, uint16_t port) {
    thread_ = std::thread([this, &client, port] { Loop(client, port); });
  }
  ~DeniedProber() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int attempts() const { return attempts_; }
  int successes() const { return successes_; }
  int refused() const { return refused_; }  // RST: no listener at that moment
  int dropped() const { return dropped_; }  // no answer within 100 ms: the SYN was dropped
  bool hit_cap() const { return hit_cap_; }

 private:
  static constexpr int kMaxAttempts = 4000;
  static constexpr milliseconds kInterval{20};
  static constexpr milliseconds kWatch{100};
  static constexpr std::chrono::seconds kMaxTime{80};

  struct Probe {
    UniqueFd fd;
    steady_clock::time_point started;
  };

  // Settles the probes whose connect finished; with `all`, also those still pending.
  void Settle(std::vector<Probe>& inflight, int timeout_ms, bool all) {
    std::vector<pollfd> fds;
    for (const Probe& p : inflight) fds.push_back({p.fd.get(), POLLOUT, 0});
    if (!fds.empty()) {
      ::poll(fds.data(), fds.size(), timeout_ms);
    } else if (timeout_ms > 0) {
      ::poll(nullptr, 0, timeout_ms);  // pacing until the next attempt is due
    }
    const auto now = steady_clock::now();
    std::vector<Probe> still;
    for (size_t i = 0; i < inflight.size(); ++i) {
      if (fds[i].revents != 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(inflight[i].fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        ++(err == 0 ? successes_ : refused_);
      } else if (all || now - inflight[i].started >= kWatch) {
        ++dropped_;
      } else {
        still.push_back(std::move(inflight[i]));
      }
    }
    inflight = std::move(still);
  }

  void Loop(const Netns& client, uint16_t port) {
    const auto hard_deadline = steady_clock::now() + kMaxTime;
    std::vector<Probe> inflight;
    int i = 0;
    for (; i < kMaxAttempts && !stop_ && steady_clock::now() < hard_deadline; ++i) {
      const auto next = steady_clock::now() + kInterval;
      UniqueFd fd = StartConnect(client, kDenied, kServer, port);
      ++attempts_;
      if (fd) inflight.push_back({std::move(fd), steady_clock::now()});
      // At most a handful of rounds: each waits until the next attempt is due.
      for (int k = 0; k < 50 && !stop_; ++k) {
        const int64_t left = Ms(next - steady_clock::now());
        if (left <= 0) break;
        Settle(inflight, static_cast<int>(left), false);
      }
    }
    Settle(inflight, 0, true);
    hit_cap_ = i >= kMaxAttempts || steady_clock::now() >= hard_deadline;
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> attempts_{0};
  std::atomic<int> successes_{0};
  std::atomic<int> refused_{0};
  std::atomic<int> dropped_{0};
  std::atomic<bool> hit_cap_{false};
  std::thread thread_;
};

// Outcome of a control request made by an unprivileged child process.
enum ControlOutcome {
  kServed = 0,           // got a status reply with "gates"
  kRefusedByFile = 1,    // connect() failed: the socket file's permissions kept it out
  kRefusedByDaemon = 4,  // connected, and the daemon answered "permission denied"
  kOtherError = 2,
  kChildTrouble = 3,  // could not drop privileges, or did not finish in time
};

// Forks a child that becomes uid/gid 65534 with exactly `groups` as supplementary groups, asks
// the daemon for its status on `socket_path`, and exits with a ControlOutcome. `what` receives
// the child's description of the reply. The child is always reaped.
int ControlRequestAs(const std::string& socket_path, const std::vector<gid_t>& groups,
                     std::string* what) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return kChildTrouble;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return kChildTrouble;
  }
  if (pid == 0) {
    // The test process has no other threads here (SocketIn's are joined), so the child may
    // allocate.
    ::close(pipefd[0]);
    auto say = [&](const std::string& text) {
      (void)!::write(pipefd[1], text.data(), text.size());
    };
    if (::setgroups(groups.size(), groups.data()) != 0 ||
        ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0 || ::geteuid() != kNobody ||
        ::getegid() != kNobody) {
      say(absl::StrCat("cannot drop privileges: ", std::strerror(errno)));
      ::_exit(kChildTrouble);
    }
    auto reply = daemon::ControlRequest(socket_path, {{"command", "status"}}, 5000);
    if (reply.ok()) {
      say(reply->dump());
      ::_exit(reply->contains("gates") ? kServed : kOtherError);
    }
    say(std::string(reply.status().ToString()));
    if (absl::IsPermissionDenied(reply.status())) {
      ::_exit(absl::StartsWith(reply.status().message(), "permission denied:") ? kRefusedByDaemon
                                                                               : kRefusedByFile);
    }
    ::_exit(kOtherError);
  }
  ::close(pipefd[1]);
  UniqueFd reader(pipefd[0]);
  std::string out;
  const auto deadline = steady_clock::now() + std::chrono::seconds(15);
  for (;;) {
    const int64_t left = Ms(deadline - steady_clock::now());
    if (left <= 0) break;
    pollfd p{reader.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready != 1) break;
    char buf[4096];
    const ssize_t n = ::read(reader.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child has exited
    out.append(buf, n);
  }
  int status = 0;
  const bool exited =
      WaitFor([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, std::chrono::seconds(5));
  if (!exited) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (what) *what = "child did not finish in time: " + out;
    return kChildTrouble;
  }
  if (what) *what = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : kChildTrouble;
}

// A plain HTTP/1.0 GET to 127.0.0.1:`port` from inside `netns`; the whole response ("" on
// failure, with the reason in `error`).
std::string HttpGet(const Netns& netns, uint16_t port, const std::string& path,
                    std::string* error) {
  UniqueFd fd = SocketIn(netns, AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  if (!fd) {
    *error = "socket";
    return "";
  }
  socklen_t len;
  sockaddr_storage dst = MakeAddr("127.0.0.1", port, &len);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), len) != 0 && errno != EINPROGRESS) {
    *error = absl::StrCat("connect: ", std::strerror(errno));
    return "";
  }
  if (!WaitConnected(fd.get(), milliseconds(5000))) {
    *error = "connect did not complete";
    return "";
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\n\r\n");
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    *error = absl::StrCat("send: ", std::strerror(errno));
    return "";
  }
  std::string response;
  const auto deadline = steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    const int64_t left = Ms(deadline - steady_clock::now());
    if (left <= 0) {
      *error = "no EOF within 5 s";
      return "";
    }
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) != 1) continue;
    char buf[16384];
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) {
      *error = absl::StrCat("recv: ", std::strerror(errno));
      return "";
    }
    if (n == 0) return response;
    response.append(buf, n);
  }
}

class OperateTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (cli_) cli_->Ip({"addr", "add", absl::StrCat(kDenied, "/24"), "dev", client_if_});
  }
  void TearDown() override {
    if (HasFailure() && other_) std::fprintf(stderr, "daemon log:\n%s\n", other_->Log().c_str());
    other_.reset();
    DaemonTest::TearDown();
  }
  void StartDaemon(const std::map<std::string, std::string>& files, const std::string& gate,
                   const std::string& state) {
    DaemonTest::StartDaemon(files);
    ASSERT_TRUE(daemon_->WaitGateState(gate, state));
  }
  // Connects from the allowed client until the service answers; the answer, or "" after
  // `within`.
  std::string AskAllowed(uint16_t port, milliseconds within) {
    std::string answer;
    WaitFor(
        [&] {
          UniqueFd fd = StartConnect(*cli_, kClient, kServer, port);
          if (!fd || !WaitConnected(fd.get(), milliseconds(500))) return false;
          answer = Ask(fd.get(), milliseconds(1000));
          return !answer.empty();
        },
        within);
    return answer;
  }

  std::unique_ptr<DaemonProcess> other_;
};

TEST_F(OperateTest, SigkillDuringTrafficNeverLetsADeniedPeerThrough) {
  if (!srv_) return;
  constexpr uint16_t kPort = 8443;
  constexpr int kRounds = 20;
  StartDaemon({{"svc.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":", kPort,
                                         "\nIPAddressDeny=any\nIPAddressAllow=", kClient,
                                         "\n[Service]\nExecStart=", TestServiceBinary(),
                                         "\nRestart=on-failure\n")}},
              "svc", "listening");
  // The service starts with the first connection.
  std::string answer = AskAllowed(kPort, milliseconds(5000));
  ASSERT_TRUE(absl::StartsWith(answer, "svc ")) << answer;
  const nlohmann::json before = daemon_->Gate("svc");
  ASSERT_EQ(before.value("state", ""), "running") << before.dump();
  auto essentials = [](const nlohmann::json& g) {
    return nlohmann::json{{"state", g.value("state", "")},
                          {"listen", g.value("listen", nlohmann::json::array())},
                          {"device", g.value("device", "?")},
                          {"ifindex", g.value("ifindex", -1)}};
  };

  DeniedProber prober(*cli_, kPort);
  int64_t slowest_ms = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const std::string previous_answer = answer;
    const auto killed_at = steady_clock::now();
    daemon_->Kill();  // SIGKILL, reaped: the next Start finds what it left
    const auto start_at = steady_clock::now();
    ASSERT_TRUE(daemon_->Start(*srv_)) << "restart " << round << " did not reach READY=1";
    answer = AskAllowed(kPort, milliseconds(3000));
    const auto answered_at = steady_clock::now();
    ASSERT_TRUE(absl::StartsWith(answer, "svc ")) << "no answer: \"" << answer << "\"";
    // A fresh service: the one the killed daemon started was killed, not adopted.
    EXPECT_NE(answer, previous_answer);
    const int64_t ms = Ms(answered_at - start_at);
    slowest_ms = std::max(slowest_ms, ms);
    EXPECT_LT(ms, 2000) << "from Start() to an answer (" << Ms(answered_at - killed_at)
                        << " ms since the SIGKILL)";
    EXPECT_EQ(essentials(daemon_->Gate("svc")), essentials(before));
  }

  // The denied peer kept trying throughout; the filter must have dropped it (and counted that).
  uint64_t denied = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        denied = DeniedIngressPackets(daemon_->Gate("svc"));
        return denied > 0;
      },
      std::chrono::seconds(5)))
      << "no denied ingress packet counted";
  prober.Stop();
  EXPECT_EQ(prober.successes(), 0)
      << "of " << prober.attempts() << " connects from the denied address";
  EXPECT_GE(prober.attempts(), kRounds);
  EXPECT_GT(prober.dropped(), 0) << "no SYN of the denied peer was dropped";
  EXPECT_FALSE(prober.hit_cap());
  std::fprintf(stderr,
               "%d restarts: slowest Start()-to-answer %lld ms; denied peer: %d attempts, %d "
               "connected, %d refused, %d dropped; %llu denied ingress packets counted\n",
               kRounds, static_cast<long long>(slowest_ms), prober.attempts(), prober.successes(),
               prober.refused(), prober.dropped(), static_cast<unsigned long long>(denied));

  // A graceful stop after all that still cleans up everything.
  const std::string pin_dir = daemon_->PinDir();
  ASSERT_TRUE(absl::StartsWith(pin_dir, "/sys/fs/bpf/gk-test-")) << pin_dir;
  EXPECT_EQ(daemon_->Stop(), 0);
  EXPECT_FALSE(std::filesystem::exists(pin_dir)) << pin_dir;
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(pin_dir).parent_path()))
      << std::filesystem::path(pin_dir).parent_path();
  // The base was made by the first daemon, which was killed; the last one still knows it for
  // gatekeeper's and removes it.
  EXPECT_FALSE(std::filesystem::exists(daemon_->cgroup_base()))
      << absl::StrJoin(kernel::ChildCgroups(daemon_->cgroup_base()), " ");
}

// The cgroup v2 path of the test process itself.
std::string OwnCgroup() {
  absl::StatusOr<std::string> mount = kernel::ReadCgroup2Mount();
  if (!mount.ok()) return mount.status().ToString();
  absl::StatusOr<std::string> own = kernel::CgroupOfProcess(*mount, 0);
  return own.ok() ? *own : own.status().ToString();
}

TEST_F(OperateTest, GracefulStopRemovesTheCgroupBaseItMade) {
  if (!srv_) return;
  const std::string own = OwnCgroup();
  StartDaemon(
      {{"svc.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8443\n[Service]\n",
                                 "ExecStart=", TestServiceBinary(), "\nStart=immediately\n")}},
      "svc", "running");
  const std::string base = daemon_->cgroup_base();
  ASSERT_TRUE(std::filesystem::exists(base + "/supervisor"));
  ASSERT_TRUE(std::filesystem::exists(base + "/gates/svc.service"));

  EXPECT_EQ(daemon_->Stop(), 0);
  // Back where it was started before it exited, so that nothing of the base had to stay.
  EXPECT_EQ(daemon_->exit_cgroup(), own);
  EXPECT_FALSE(std::filesystem::exists(base)) << absl::StrJoin(kernel::ChildCgroups(base), " ");
  EXPECT_EQ(OwnCgroup(), own);
}

TEST_F(OperateTest, GracefulStopKeepsACgroupBaseThatWasThereBefore) {
  if (!srv_) return;
  const std::string own = OwnCgroup();
  daemon_ = std::make_unique<DaemonProcess>(std::map<std::string, std::string>{
      {"web.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8080\n")}});
  const std::string base = daemon_->cgroup_base();
  // The operator's: DaemonProcess removes it whatever happens.
  ASSERT_TRUE(kernel::Cgroup::CreateOrOpen(base).ok());
  ASSERT_TRUE(daemon_->Start(*srv_));
  ASSERT_TRUE(daemon_->WaitGateState("web", "listening"));

  EXPECT_EQ(daemon_->Stop(), 0);
  EXPECT_EQ(daemon_->exit_cgroup(), own);
  EXPECT_TRUE(std::filesystem::exists(base));
  EXPECT_EQ(kernel::ChildCgroups(base), std::vector<std::string>{});
  EXPECT_EQ(OwnCgroup(), own);
}

TEST_F(OperateTest, GracefulStopAfterItsStartCgroupVanishedWarnsAndLeavesSupervisor) {
  if (!srv_) return;
  daemon_ = std::make_unique<DaemonProcess>(std::map<std::string, std::string>{
      {"web.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8080\n")}});
  const std::string base = daemon_->cgroup_base();
  const std::string origin = base + "-origin";  // outside the base, still a gk-test-* name
  // Also when the test fails before the daemon left it: a cgroup with a process inside stays.
  absl::Cleanup remove_origin = [&] {
    daemon_->Kill();
    (void)kernel::RemoveCgroupTree(origin);
  };
  ASSERT_TRUE(kernel::Cgroup::CreateOrOpen(origin).ok());
  daemon_->set_start_cgroup(origin);
  ASSERT_TRUE(daemon_->Start(*srv_));
  ASSERT_TRUE(daemon_->WaitGateState("web", "listening"));
  ASSERT_TRUE(kernel::RemoveCgroupTree(origin).ok());  // empty: the daemon is in supervisor

  EXPECT_EQ(daemon_->Stop(), 0);
  EXPECT_EQ(daemon_->exit_cgroup(), base + "/supervisor");
  EXPECT_EQ(kernel::ChildCgroups(base), std::vector<std::string>{base + "/supervisor"});
  const std::string log = daemon_->Log();
  EXPECT_TRUE(absl::StrContains(
      log, absl::StrCat("<4>the cgroup the daemon was started in, ", origin, ", no longer exists")))
      << log;
}

// As under systemd, where the base is the unit's cgroup the daemon starts in: the daemon stays in
// supervisor until it exits, and systemd removes the unit's cgroup afterwards.
TEST_F(OperateTest, GracefulStopLeavesABaseTheDaemonWasStartedIn) {
  if (!srv_) return;
  daemon_ = std::make_unique<DaemonProcess>(std::map<std::string, std::string>{
      {"web.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8080\n")}});
  const std::string base = daemon_->cgroup_base();
  ASSERT_TRUE(kernel::Cgroup::CreateOrOpen(base).ok());
  daemon_->set_start_cgroup(base);
  ASSERT_TRUE(daemon_->Start(*srv_));
  ASSERT_TRUE(daemon_->WaitGateState("web", "listening"));

  EXPECT_EQ(daemon_->Stop(), 0);
  EXPECT_EQ(daemon_->exit_cgroup(), base + "/supervisor");
  EXPECT_EQ(kernel::ChildCgroups(base), std::vector<std::string>{base + "/supervisor"});
}

TEST_F(OperateTest, DenialFloodGivesBoundedLogLinesAndExactCounters) {
  if (!srv_) return;
  constexpr uint16_t kPort = 5353;
  constexpr uint64_t kDatagrams = 100000;
  StartDaemon({{"udpg.gate", absl::StrCat("[Socket]\nListenDatagram=", kServer, ":", kPort,
                                          "\nIPAddressDeny=", kClient, "\n")}},
              "udpg", "listening");
  UniqueFd sock = SocketIn(*cli_, AF_INET, SOCK_DGRAM);
  ASSERT_TRUE(sock);
  socklen_t len;
  const sockaddr_storage dst = MakeAddr(kServer, kPort, &len);
  const char payload[] = "flood";
  auto send_one = [&] {
    return ::sendto(sock.get(), payload, sizeof(payload) - 1, 0,
                    reinterpret_cast<const sockaddr*>(&dst),
                    len) == static_cast<ssize_t>(sizeof(payload) - 1);
  };
  uint64_t denied = 0;
  auto read_denied = [&] {
    denied = DeniedIngressPackets(daemon_->Gate("udpg"));
    return denied;
  };
  // The first datagram also resolves the neighbour, so none of the flood waits in (or is
  // dropped from) the ARP queue.
  ASSERT_TRUE(send_one());
  ASSERT_TRUE(WaitFor([&] { return read_denied() == 1; })) << denied;

  const auto flood_start = steady_clock::now();
  uint64_t sent = 1;
  for (; sent < kDatagrams; ++sent) {
    if (!send_one()) break;
  }
  ASSERT_EQ(sent, kDatagrams) << std::strerror(errno);
  const int64_t flood_ms = Ms(steady_clock::now() - flood_start);
  EXPECT_TRUE(WaitFor([&] { return read_denied() == kDatagrams; }, std::chrono::seconds(10)))
      << "denied ingress packets: " << denied;
  const nlohmann::json gate = daemon_->Gate("udpg");
  EXPECT_EQ(DeniedIngressPackets(gate), kDatagrams);
  EXPECT_EQ(gate["counters"]["ingress"]["allowed"].value("packets", uint64_t{1}), 0u);

  // Kernel side: every denied packet became an event sent, suppressed or lost.
  const nlohmann::json& events = gate["events"];
  const uint64_t ev_sent = events.value("sent", uint64_t{0});
  const uint64_t ev_suppressed = events.value("suppressed", uint64_t{0});
  const uint64_t ev_lost = events.value("lost", uint64_t{0});
  EXPECT_EQ(ev_sent + ev_suppressed + ev_lost, kDatagrams) << events.dump();
  // The kernel's burst is larger than the log's, so the log's own limit must have acted.
  ASSERT_GT(ev_sent, static_cast<uint64_t>(daemon::DenialLog::kBurstLines)) << events.dump();

  // Daemon side: a line per event up to the rate limit; the rest counted in summaries, which
  // come at the latest kSummaryInterval after the first suppressed event.
  const std::string line_mark = absl::StrCat("gate udpg: denied ingress udp from ", kClient, ":");
  const std::regex summary_re(R"(gate udpg: (\d+) more denials? suppressed)");
  uint64_t lines = 0, summaries = 0, summarized = 0;
  auto count_log = [&] {
    lines = summaries = summarized = 0;
    std::istringstream log(daemon_->Log());
    for (std::string line; std::getline(log, line);) {
      if (absl::StrContains(line, line_mark)) ++lines;
      std::smatch m;
      if (std::regex_search(line, m, summary_re)) {
        ++summaries;
        summarized += std::stoull(m[1].str());
      }
    }
    return lines + summarized == ev_sent;
  };
  EXPECT_TRUE(WaitFor(count_log, std::chrono::seconds(5)))
      << lines << " lines + " << summarized << " summarized in " << summaries
      << " summaries != " << ev_sent << " events sent";
  EXPECT_LE(lines, 200u);
  EXPECT_GE(lines, 1u);
  EXPECT_GE(summaries, 1u) << "no \"more denials suppressed\" line";
  std::fprintf(
      stderr,
      "%llu datagrams in %lld ms; events sent %llu, suppressed %llu, lost %llu; %llu "
      "lines, %llu summaries of %llu\n",
      static_cast<unsigned long long>(kDatagrams), static_cast<long long>(flood_ms),
      static_cast<unsigned long long>(ev_sent), static_cast<unsigned long long>(ev_suppressed),
      static_cast<unsigned long long>(ev_lost), static_cast<unsigned long long>(lines),
      static_cast<unsigned long long>(summaries), static_cast<unsigned long long>(summarized));

  auto metrics = daemon_->Request({{"command", "metrics"}});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string text = (*metrics).value("text", "");
  EXPECT_TRUE(absl::StrContains(
      text,
      "gatekeeper_packets_total{gate=\"udpg\",direction=\"ingress\",verdict=\"denied\"} "
      "100000\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, absl::StrCat("gatekeeper_denial_events_total{gate=\"udpg\",outcome=\"sent\"} ", ev_sent,
                         "\n")))
      << text;
  // The daemon's own limiter, as the metrics report it: the same figures as its log.
  EXPECT_TRUE(absl::StrContains(
      text, absl::StrCat("gatekeeper_denial_events_logged_total{gate=\"udpg\"} ", lines, "\n")))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text,
      absl::StrCat("gatekeeper_denial_events_suppressed_total{gate=\"udpg\",by=\"userspace\"} ",
                   summarized, "\n")))
      << text;
}

TEST_F(OperateTest, ControlSocketRefusesNonRootUsers) {
  if (!srv_) return;
  StartDaemon({{"web.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8080\n")}}, "web",
              "listening");
  // uid 65534 must be able to reach the socket file; only its own mode may keep it out.
  for (std::filesystem::path p = daemon_->runtime_dir(); p != "/tmp" && p.has_parent_path();
       p = p.parent_path()) {
    ASSERT_EQ(::chmod(p.c_str(), 0755), 0) << p;
  }
  const std::string socket_path = daemon_->runtime_dir() + "/control.sock";
  std::string what;

  // Without [Control] Group=: root only.
  EXPECT_EQ(ControlRequestAs(socket_path, {}, &what), kRefusedByFile) << what;
  EXPECT_EQ(ControlRequestAs(socket_path, {kControlGid}, &what), kRefusedByFile) << what;
  // Loosened file permissions do not open it: the daemon checks SO_PEERCRED itself.
  ASSERT_EQ(::chmod(socket_path.c_str(), 0666), 0);
  EXPECT_EQ(ControlRequestAs(socket_path, {}, &what), kRefusedByDaemon) << what;
  EXPECT_TRUE(absl::StrContains(what, "65534")) << what;
  ASSERT_TRUE(daemon_->Status().ok());  // root still is

  // With [Control] Group=4242: that group, as a supplementary group, is served.
  ASSERT_EQ(daemon_->Stop(), 0);
  daemon_->WriteConfig("gatekeeper.conf", absl::StrCat("[Control]\nGroup=", kControlGid, "\n"));
  ASSERT_TRUE(daemon_->Start(*srv_));
  ASSERT_TRUE(daemon_->WaitGateState("web", "listening"));
  struct stat st {};
  ASSERT_EQ(::stat(socket_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, kControlGid);
  EXPECT_EQ(ControlRequestAs(socket_path, {kControlGid}, &what), kServed) << what;
  EXPECT_TRUE(absl::StrContains(what, "\"web\"")) << what;
  EXPECT_EQ(ControlRequestAs(socket_path, {kControlGid + 1}, &what), kRefusedByFile) << what;
  EXPECT_EQ(ControlRequestAs(socket_path, {}, &what), kRefusedByFile) << what;
  ASSERT_EQ(::chmod(socket_path.c_str(), 0666), 0);
  EXPECT_EQ(ControlRequestAs(socket_path, {}, &what), kRefusedByDaemon) << what;
  EXPECT_EQ(ControlRequestAs(socket_path, {kControlGid}, &what), kServed) << what;
}

// `status` reads every scope's program ids once for all gates: each gate still lists the program
// someone else put on its cgroup path, and never another gate's own programs.
TEST_F(OperateTest, StatusListsForeignProgramsOfEveryGateButNoneOfItsOwn) {
  if (!srv_) return;
  StartDaemon({{"a.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":7001\n")},
               {"b.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":7002\n")}},
              "a", "listening");
  ASSERT_TRUE(daemon_->WaitGateState("b", "listening"));
  for (const char* gate : {"a", "b"}) {
    EXPECT_EQ(daemon_->Gate(gate)["foreign_programs"], nlohmann::json::array()) << gate;
  }

  // A pass-all program on the parent of both gates' cgroups, as another firewall would put it.
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 1},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET_EGRESS);
  UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_CGROUP_SKB, "acme_fw", "GPL", insns, 2, &opts));
  ASSERT_TRUE(prog) << std::strerror(errno);
  auto gates = kernel::Cgroup::Open(daemon_->cgroup_base() + "/gates");
  ASSERT_TRUE(gates.ok()) << gates.status();
  UniqueFd link(bpf_link_create(prog.get(), gates->fd(), BPF_CGROUP_INET_EGRESS, nullptr));
  ASSERT_TRUE(link) << std::strerror(errno);
  bpf_prog_info info{};
  uint32_t info_len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(prog.get(), &info, &info_len), 0) << std::strerror(errno);

  const nlohmann::json expected = {absl::StrCat("acme_fw (id ", info.id, ", egress)")};
  for (const char* gate : {"a", "b"}) {
    EXPECT_EQ(daemon_->Gate(gate)["foreign_programs"], expected) << gate;
  }
}

TEST_F(OperateTest, MetricsListenServesPrometheusTextOverHttp) {
  if (!srv_) return;
  constexpr uint16_t kMetricsPort = 9109;
  daemon_ = std::make_unique<DaemonProcess>(std::map<std::string, std::string>{
      {"web.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8080\n")}});
  daemon_->set_extra_args({"--metrics-listen", absl::StrCat("127.0.0.1:", kMetricsPort)});
  ASSERT_TRUE(daemon_->Start(*srv_));
  ASSERT_TRUE(daemon_->WaitGateState("web", "listening"));

  std::string error;
  const std::string response = HttpGet(*srv_, kMetricsPort, "/metrics", &error);
  ASSERT_FALSE(response.empty()) << error;
  const size_t split = response.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos) << response;
  const std::string head = response.substr(0, split);
  const std::string body = response.substr(split + 4);
  const std::string status_line = head.substr(0, head.find("\r\n"));
  EXPECT_TRUE(absl::StartsWith(status_line, "HTTP/1.")) << status_line;
  EXPECT_TRUE(absl::StrContains(status_line, " 200 ")) << status_line;
  EXPECT_TRUE(
      absl::StrContains(absl::AsciiStrToLower(head), "\r\ncontent-type: text/plain; version=0.0.4"))
      << head;
  EXPECT_TRUE(
      absl::StrContains(body, "gatekeeper_gate_state{gate=\"web\",state=\"listening\"} 1\n"))
      << body;
  EXPECT_TRUE(absl::StrContains(
      body, "gatekeeper_packets_total{gate=\"web\",direction=\"ingress\",verdict=\"denied\"} 0\n"))
      << body;
  // The same exposition as `gatekeeper metrics` (nothing reaches this gate meanwhile).
  auto metrics = daemon_->Request({{"command", "metrics"}});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(body, (*metrics).value("text", ""));

  const std::string other = HttpGet(*srv_, kMetricsPort, "/other", &error);
  ASSERT_FALSE(other.empty()) << error;
  EXPECT_TRUE(absl::StrContains(other.substr(0, other.find("\r\n")), " 404 ")) << other;

  // A bad address is an error before READY=1, naming the option.
  other_ = std::make_unique<DaemonProcess>(std::map<std::string, std::string>{
      {"web.gate", absl::StrCat("[Socket]\nListenStream=", kServer, ":8081\n")}});
  other_->set_extra_args({"--metrics-listen", "nonsense"});
  EXPECT_FALSE(other_->Start(*srv_, std::chrono::seconds(10)));
  const std::string log = other_->Log();
  EXPECT_TRUE(absl::StrContains(log, "--metrics-listen")) << log;
  EXPECT_TRUE(absl::StrContains(log, "nonsense")) << log;
  EXPECT_FALSE(absl::StrContains(log, "gatekeeper ready")) << log;
}

}  // namespace
}  // namespace gatekeeper::testing
