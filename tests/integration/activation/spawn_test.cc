// Spawn() against the real kernel: the LISTEN_FDS protocol as the test service sees it, what the
// service inherits (fds, signals, environment, session, user, cgroup) and how failures and exits
// are reported.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/socket_address.h"
#include "gmock/gmock.h"
#include "kernel/mountinfo.h"
#include "tests/integration/activation/activation_fixture.h"
#include "tests/integration/test_env.h"

namespace gatekeeper::testing {
namespace {

using activation::Child;
using activation::ExitStatus;
using activation::SpawnRequest;
using common::UniqueFd;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

uint16_t PortOf(const UniqueFd& fd) { return LocalPort(fd.get()); }

TEST_F(ActivationTest, ListenersBecomeFd3And4WithNamesAndOwnPid) {
  UniqueFd v4 = Listen("127.0.0.1");
  UniqueFd v6 = Listen("::1");
  SpawnRequest r = Request({"--print-env"});
  r.fds = {{v4.get(), "alpha"}, {v6.get(), "beta"}};
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  std::map<std::string, std::string> env = ReadPrintedEnv();
  EXPECT_EQ(env["PID"], absl::StrCat(child->pid()));
  EXPECT_EQ(env["LISTEN_PID"], absl::StrCat(child->pid()));
  EXPECT_EQ(env["LISTEN_FDS"], "2");
  EXPECT_EQ(env["LISTEN_FDNAMES"], "alpha:beta");
  EXPECT_EQ(env["CWD"], "/");

  // fds 3 and 4 are our two listeners, and nothing else beyond the standard streams is open.
  EXPECT_THAT(OpenFds(child->pid()), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_EQ(FdTarget(child->pid(), 3), SocketLink(v4.get()));
  EXPECT_EQ(FdTarget(child->pid(), 4), SocketLink(v6.get()));
  EXPECT_EQ(FdTarget(child->pid(), 0), "/dev/null");

  EXPECT_EQ(Ask("127.0.0.1", PortOf(v4)), absl::StrCat("alpha ", child->pid()));
  EXPECT_EQ(Ask("::1", PortOf(v6)), absl::StrCat("beta ", child->pid()));
}

TEST_F(ActivationTest, DatagramSocketIsServed) {
  UniqueFd udp = Listen("127.0.0.1", SOCK_DGRAM);
  SpawnRequest r = Request({});
  r.fds = {{udp.get(), "dns"}};
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  UniqueFd client(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto server = common::SocketAddress::Parse("127.0.0.1", PortOf(udp));
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(connect(client.get(), server->get(), server->length), 0);
  ASSERT_EQ(send(client.get(), "q", 1, 0), 1);
  ASSERT_TRUE(WaitReadable(client.get()));
  char reply[64] = {};
  ASSERT_GT(recv(client.get(), reply, sizeof(reply) - 1, 0), 0);
  EXPECT_EQ(std::string(reply), absl::StrCat("dns ", child->pid(), "\n"));
}

TEST_F(ActivationTest, SupervisorVariablesDoNotReachTheService) {
  ASSERT_NE(getenv("NOTIFY_SOCKET"), nullptr);  // set by the fixture
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r = Request({"--print-env"});
  r.environment.push_back("GK_TEST_KEPT=yes");
  r.fds = {{listener.get(), "only"}};
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  std::map<std::string, std::string> env = ReadPrintedEnv();
  EXPECT_EQ(env.count("NOTIFY_SOCKET"), 0u);
  EXPECT_EQ(env.count("WATCHDOG_PID"), 0u);
  EXPECT_EQ(env.count("WATCHDOG_USEC"), 0u);
  EXPECT_EQ(env["LISTEN_FDS"], "1");
  EXPECT_EQ(env["LISTEN_FDNAMES"], "only");
  EXPECT_EQ(env["LISTEN_PID"], absl::StrCat(child->pid()));
  // The whole environment as the kernel holds it, not just what the service chose to print.
  std::ifstream in(absl::StrCat("/proc/", child->pid(), "/environ"));
  const std::string environ_text((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
  EXPECT_THAT(environ_text, HasSubstr(std::string("\0GK_TEST_KEPT=yes\0", 18)));
  EXPECT_THAT(environ_text, Not(HasSubstr("NOTIFY_SOCKET=")));
  EXPECT_THAT(environ_text, Not(HasSubstr("WATCHDOG_")));
  EXPECT_THAT(environ_text, Not(HasSubstr("inherited")));
}

TEST_F(ActivationTest, SignalMaskAndDispositionsAreReset) {
  // The fixture ignores SIGPIPE and SIGHUP and blocks SIGUSR1 in this process.
  ASSERT_NE(StatusField(getpid(), "SigBlk"), "0000000000000000");
  ASSERT_NE(StatusField(getpid(), "SigIgn"), "0000000000000000");
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r = Request({"--print-env"});
  r.fds = {{listener.get(), "l"}};
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  ReadPrintedEnv();
  EXPECT_EQ(StatusField(child->pid(), "SigBlk"), "0000000000000000");
  EXPECT_EQ(StatusField(child->pid(), "SigIgn"), "0000000000000000");
  // Its own session and process group: a terminal's signals for the daemon do not reach it.
  EXPECT_EQ(getsid(child->pid()), child->pid());
  EXPECT_EQ(getpgid(child->pid()), child->pid());
}

TEST_F(ActivationTest, RunsAsNobodyInsideTheCgroup) {
  absl::StatusOr<activation::Credentials> nobody = activation::ResolveCredentials("nobody", "");
  ASSERT_TRUE(nobody.ok()) << nobody.status();
  const kernel::Cgroup& cgroup = TestCgroup();
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r = Request({"--print-env"});
  r.argv[0] = WorldExecutableServicePath();
  r.fds = {{listener.get(), "web"}};
  r.credentials = *nobody;
  r.cgroup_fd = cgroup.fd();
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  ReadPrintedEnv();
  const std::string uid = absl::StrCat(nobody->uid);
  const std::string gid = absl::StrCat(nobody->gid);
  EXPECT_EQ(StatusField(child->pid(), "Uid"), absl::StrCat(uid, "\t", uid, "\t", uid, "\t", uid));
  EXPECT_EQ(StatusField(child->pid(), "Gid"), absl::StrCat(gid, "\t", gid, "\t", gid, "\t", gid));
  std::string groups;
  for (gid_t g : nobody->supplementary_groups) absl::StrAppend(&groups, g, " ");
  EXPECT_EQ(StatusField(child->pid(), "Groups"), groups);

  absl::StatusOr<std::string> mount = kernel::ReadCgroup2Mount();
  ASSERT_TRUE(mount.ok());
  absl::StatusOr<std::string> where = kernel::CgroupOfProcess(*mount, child->pid());
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_EQ(*where, cgroup.path());
  // Listeners made by root serve fine in a service that runs as nobody.
  EXPECT_EQ(Ask("127.0.0.1", PortOf(listener)), absl::StrCat("web ", child->pid()));
}

TEST_F(ActivationTest, ArgumentsArriveLiterally) {
  const std::string marker = absl::StrCat("/tmp/gk-test-", UniqueName("meta"));
  const std::vector<std::string> args = {absl::StrCat("$(touch ", marker, ")"),
                                         absl::StrCat("`touch ", marker, "`"),
                                         "; touch " + marker,
                                         "a b",
                                         "'single'",
                                         "\"double\"",
                                         "$HOME",
                                         "*",
                                         "|",
                                         ">out",
                                         "&&",
                                         ""};
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r = Request({"--print-env"});
  r.argv.insert(r.argv.end(), args.begin(), args.end());
  r.fds = {{listener.get(), "l"}};
  ASSERT_NE(Start(r), nullptr);
  std::map<std::string, std::string> env = ReadPrintedEnv();
  for (size_t i = 0; i < args.size(); ++i) EXPECT_EQ(env[absl::StrCat("ARG", i)], args[i]) << i;
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST_F(ActivationTest, VariablesAreExpandedFromTheServicesEnvironmentOnly) {
  // In the daemon's environment but not the service's: must not be expanded.
  ASSERT_EQ(setenv("GK_TEST_DAEMON_ONLY", "leaked", 1), 0);
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r =
      Request({"--print-env", "port=${PORT}", "$ARGS", "x${GK_TEST_DAEMON_ONLY}y",
               "$GK_TEST_DAEMON_ONLY", "$UNSET", "$$", "a$PORT", "${LISTEN_FDS}", "$(id)", ";"});
  r.environment = {"PORT=8443", "ARGS=-a 'b c'"};
  r.expand_variables = true;
  r.fds = {{listener.get(), "l"}};
  Child* child = Start(r);
  unsetenv("GK_TEST_DAEMON_ONLY");
  ASSERT_NE(child, nullptr);
  std::map<std::string, std::string> env = ReadPrintedEnv();
  const std::vector<std::string> expected = {"port=8443", "-a",     "b c", "xy",
                                             "$",         "a$PORT", "1",   ";"};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(env[absl::StrCat("ARG", i)], expected[i]) << i;
  }
  EXPECT_EQ(env.count(absl::StrCat("ARG", expected.size())), 0u);
}

// The soft and hard RLIMIT_NOFILE of a process as /proc/PID/limits shows them.
std::pair<std::string, std::string> NofileLimits(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/limits"));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("Max open files")) continue;
    std::istringstream fields(line.substr(std::strlen("Max open files")));
    std::string soft, hard;
    fields >> soft >> hard;
    return {soft, hard};
  }
  return {"<missing>", "<missing>"};
}

// Raises this process's soft RLIMIT_NOFILE to its hard limit, as the daemon does, for the
// lifetime of the object.
class RaisedFileLimit {
 public:
  RaisedFileLimit() {
    EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &saved_), 0);
    const rlimit raised{saved_.rlim_max, saved_.rlim_max};
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0) << std::strerror(errno);
  }
  ~RaisedFileLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }
  RaisedFileLimit(const RaisedFileLimit&) = delete;
  RaisedFileLimit& operator=(const RaisedFileLimit&) = delete;
  rlim_t hard() const { return saved_.rlim_max; }

 private:
  rlimit saved_{};
};

TEST_F(ActivationTest, ServiceGetsTheUsualSoftFileLimitBack) {
  RaisedFileLimit raised;
  if (raised.hard() < 64) GTEST_SKIP() << "hard RLIMIT_NOFILE " << raised.hard();
  const rlim_t usual = std::min<rlim_t>(1024, raised.hard() / 2);
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r = Request({"--print-env"});
  r.fds = {{listener.get(), "l"}};
  r.nofile_soft_limit = usual;
  // Spawn() returns once the service has exec'd: its limits are final.
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  // The soft limit is the one asked for; the hard limit stays the daemon's.
  EXPECT_EQ(NofileLimits(child->pid()),
            std::make_pair(absl::StrCat(usual), absl::StrCat(raised.hard())));
  // Unset: the service inherits the daemon's raised limit.
  r.nofile_soft_limit.reset();
  child = Start(r);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(NofileLimits(child->pid()),
            std::make_pair(absl::StrCat(raised.hard()), absl::StrCat(raised.hard())));
}

TEST_F(ActivationTest, SoftFileLimitAboveTheHardLimitIsCappedAtIt) {
  rlimit own{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &own), 0);
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r = Request({"--print-env"});
  r.fds = {{listener.get(), "l"}};
  r.nofile_soft_limit = own.rlim_max + 1;
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(NofileLimits(child->pid()).first, absl::StrCat(own.rlim_max));
}

// A daemon with many gates has fds far above the limit its services get. The child must still
// be able to move the listeners into place (that needs free fd numbers, which the lower limit
// would forbid), so the limit is set only once the inherited fds are closed.
TEST_F(ActivationTest, ServiceStartsWhenTheDaemonHoldsMoreFdsThanItsLimit) {
  RaisedFileLimit raised;
  constexpr rlim_t kServiceLimit = 64;
  if (raised.hard() < 4 * kServiceLimit) GTEST_SKIP() << "hard RLIMIT_NOFILE " << raised.hard();
  std::vector<UniqueFd> filler;
  while (filler.empty() || filler.back().get() < static_cast<int>(2 * kServiceLimit)) {
    filler.emplace_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(filler.back().valid()) << std::strerror(errno);
  }
  // The listener and the spawn's own pipes all land above the service's limit.
  UniqueFd listener = Listen("127.0.0.1");
  ASSERT_GT(listener.get(), static_cast<int>(kServiceLimit));
  SpawnRequest r = Request({"--print-env"});
  r.fds = {{listener.get(), "l"}};
  r.nofile_soft_limit = kServiceLimit;
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(NofileLimits(child->pid()).first, absl::StrCat(kServiceLimit));
  EXPECT_EQ(Ask("127.0.0.1", PortOf(listener)), absl::StrCat("l ", child->pid()));
}

TEST_F(ActivationTest, MissingProgramIsAClearError) {
  SpawnRequest r = Request({});
  r.argv[0] = "/nonexistent/gk-no-such-program";
  const absl::Status s = activation::Spawn(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "exec /nonexistent/gk-no-such-program: No such file or directory");
  // The child that failed to exec has been reaped already.
  EXPECT_TRUE(NoChildProcesses());
}

TEST_F(ActivationTest, FailingStepsAreNamed) {
  SpawnRequest r = Request({});
  r.working_directory = "/nonexistent-gk-dir";
  absl::Status s = activation::Spawn(r).status();
  EXPECT_EQ(s.message(), "chdir /nonexistent-gk-dir: No such file or directory");
  r = Request({});
  r.argv[0] = "/dev/null";
  s = activation::Spawn(r).status();
  EXPECT_EQ(s.message(), "exec /dev/null: Permission denied");
  EXPECT_TRUE(NoChildProcesses());
}

TEST_F(ActivationTest, PidfdBecomesReadableOnExitAndReapGivesTheStatus) {
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r = Request({"--exit-immediately"});
  r.fds = {{listener.get(), "l"}};
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(WaitReadable(child->pidfd()));
  absl::StatusOr<ExitStatus> status = child->Reap();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, ExitStatus::Exited(1));
  EXPECT_EQ(child->Reap().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(child->Kill(SIGTERM).code(), absl::StatusCode::kNotFound);
}

TEST_F(ActivationTest, RunningChildIsNotReapedAndKillEndsIt) {
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r = Request({});
  r.fds = {{listener.get(), "l"}};
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->Reap().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(WaitReadable(child->pidfd(), std::chrono::milliseconds(0)));
  ASSERT_TRUE(child->Kill(SIGTERM).ok());
  ASSERT_TRUE(WaitReadable(child->pidfd()));
  absl::StatusOr<ExitStatus> status = child->Reap();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, ExitStatus::Killed(SIGTERM));
  EXPECT_TRUE(status->Clean());
}

// Moves whatever this process has open on [first, last) out of the way for the lifetime of the
// object and puts it back afterwards.
class FdNumbersBorrowed {
 public:
  FdNumbersBorrowed(int first, int last) {
    for (int fd = first; fd < last; ++fd) {
      const int flags = fcntl(fd, F_GETFD);
      if (flags < 0) continue;
      saved_.push_back({fd, fcntl(fd, F_DUPFD_CLOEXEC, 100), flags});
      close(fd);
    }
  }
  ~FdNumbersBorrowed() {
    for (const Saved& s : saved_) {
      dup3(s.copy, s.fd, (s.flags & FD_CLOEXEC) ? O_CLOEXEC : 0);
      close(s.copy);
    }
  }

 private:
  struct Saved {
    int fd, copy, flags;
  };
  std::vector<Saved> saved_;
};

// The fds to pass sit on each other's target numbers: 3 must become 4, 4 must become 5 and 5
// must become 3. Copying them one by one with dup2 would clobber a source before its turn.
TEST_F(ActivationTest, FdsAlreadyOnTargetNumbersArriveInOrder) {
  // Free 3..5 in this process (the fixture's output pipe, or fds ctest left open), put the
  // listeners on them, then make a new output pipe above them.
  output_.reset();
  output_write_.reset();
  FdNumbersBorrowed borrowed(3, 6);
  std::vector<UniqueFd> listeners;
  for (int i = 0; i < 3; ++i) {
    listeners.push_back(Listen("127.0.0.1"));
    ASSERT_EQ(listeners.back().get(), 3 + i);
  }
  NewOutput();
  SpawnRequest r = Request({"--print-env"});
  r.fds = {{5, "c"}, {3, "a"}, {4, "b"}};
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  ReadPrintedEnv();
  EXPECT_EQ(FdTarget(child->pid(), 3), SocketLink(5));
  EXPECT_EQ(FdTarget(child->pid(), 4), SocketLink(3));
  EXPECT_EQ(FdTarget(child->pid(), 5), SocketLink(4));
  EXPECT_EQ(Ask("127.0.0.1", PortOf(listeners[0])), absl::StrCat("a ", child->pid()));
  EXPECT_EQ(Ask("127.0.0.1", PortOf(listeners[1])), absl::StrCat("b ", child->pid()));
  EXPECT_EQ(Ask("127.0.0.1", PortOf(listeners[2])), absl::StrCat("c ", child->pid()));
}

TEST_F(ActivationTest, OutputReachesTheForwarderWithTheGateName) {
  UniqueFd listener = Listen("127.0.0.1");
  SpawnRequest r = Request({"--print-env", "--exit-immediately"});
  r.fds = {{listener.get(), "l"}};
  Child* child = Start(r);
  ASSERT_NE(child, nullptr);
  // Only the service holds the write end now, so the forwarder sees the end when it exits.
  output_write_.reset();
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  for (;;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    ASSERT_TRUE(WaitReadable(output_->fd()));
    absl::StatusOr<bool> more = output_->OnReadable();
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
  }
  EXPECT_EQ(output_lines_.front(), absl::StrCat("svc: PID=", child->pid()));
  EXPECT_EQ(output_lines_.back(), "svc: END");
}

}  // namespace
}  // namespace gatekeeper::testing
