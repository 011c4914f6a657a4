#include "tests/integration/activation/activation_fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/socket_address.h"
#include "kernel/mountinfo.h"
#include "tests/integration/test_env.h"

extern char** environ;

namespace gatekeeper::testing {

using activation::Child;
using activation::SpawnRequest;
using common::UniqueFd;

namespace {

const char* const kDirtyVariables[][2] = {
    {"NOTIFY_SOCKET", "/run/gk-test/notify"},
    {"WATCHDOG_PID", "1"},
    {"WATCHDOG_USEC", "30000000"},
    {"LISTEN_FDS", "9"},
    {"LISTEN_PID", "1"},
    {"LISTEN_FDNAMES", "inherited"},
};

int RemainingMs(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

void ActivationTest::SetUp() {
  GK_REQUIRE_ROOT();
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &saved_sigpipe_), 0);
  ASSERT_EQ(sigaction(SIGHUP, &ignore, &saved_sighup_), 0);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &usr1, &saved_mask_), 0);
  for (const auto& [name, value] : kDirtyVariables) setenv(name, value, 1);
  dirtied_ = true;

  NewOutput();
}

void ActivationTest::NewOutput() {
  auto created = activation::OutputForwarder::Create(
      "svc", [this](absl::string_view line) { output_lines_.emplace_back(line); });
  ASSERT_TRUE(created.ok()) << created.status();
  output_.emplace(std::move(created->first));
  output_write_ = std::move(created->second);
}

void ActivationTest::TearDown() {
  for (const std::unique_ptr<Child>& child : children_) {
    if (child->reaped()) continue;
    (void)child->Kill(SIGKILL);
    EXPECT_TRUE(child->Wait().ok()) << "pid " << child->pid();
  }
  children_.clear();
  if (HasFailure() && output_) {
    (void)output_->OnReadable();
    for (const std::string& line : output_lines_) std::fprintf(stderr, "%s\n", line.c_str());
  }
  if (cgroup_) {
    const std::string path = cgroup_->path();
    cgroup_.reset();
    EXPECT_TRUE(kernel::RemoveCgroupTree(path).ok()) << path;
  }
  if (!copy_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(copy_dir_, ec);
  }
  if (dirtied_) {
    sigaction(SIGPIPE, &saved_sigpipe_, nullptr);
    sigaction(SIGHUP, &saved_sighup_, nullptr);
    pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
    for (const auto& [name, value] : kDirtyVariables) unsetenv(name);
  }
}

std::string ActivationTest::ServicePath() { return GK_TEST_SERVICE; }

std::string ActivationTest::WorldExecutableServicePath() {
  const std::filesystem::path original = ServicePath();
  bool reachable = true;
  for (std::filesystem::path p = original.parent_path(); p != p.root_path(); p = p.parent_path()) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0 || !(st.st_mode & S_IXOTH)) reachable = false;
  }
  if (reachable) return original;
  char dir[] = "/tmp/gk-test-svcXXXXXX";
  EXPECT_NE(mkdtemp(dir), nullptr);
  copy_dir_ = dir;
  chmod(dir, 0755);
  const std::filesystem::path copy = std::filesystem::path(dir) / original.filename();
  std::filesystem::copy_file(original, copy);
  chmod(copy.c_str(), 0755);
  return copy;
}

std::vector<std::string> ActivationTest::ParentEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

SpawnRequest ActivationTest::Request(const std::vector<std::string>& args) {
  SpawnRequest r;
  r.argv = {ServicePath()};
  r.argv.insert(r.argv.end(), args.begin(), args.end());
  r.environment = ParentEnvironment();
  r.stdout_fd = output_write_.get();
  r.stderr_fd = output_write_.get();
  return r;
}

Child* ActivationTest::Start(const SpawnRequest& request) {
  absl::StatusOr<Child> child = activation::Spawn(request);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return nullptr;
  children_.push_back(std::make_unique<Child>(*std::move(child)));
  return children_.back().get();
}

UniqueFd ActivationTest::Listen(const std::string& ip, int type, bool v6only) {
  auto address = common::SocketAddress::Parse(ip, 0);
  EXPECT_TRUE(address.ok()) << address.status();
  if (!address.ok()) return {};
  UniqueFd fd(socket(address->family(), type | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd.valid()) << "socket: " << std::strerror(errno);
  const int v6 = v6only ? 1 : 0;
  if (address->family() == AF_INET6) {
    EXPECT_EQ(setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6)), 0);
  }
  EXPECT_EQ(bind(fd.get(), address->get(), address->length), 0)
      << "bind " << ip << ": " << std::strerror(errno);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(listen(fd.get(), 16), 0);
  }
  return fd;
}

const kernel::Cgroup& ActivationTest::TestCgroup() {
  if (!cgroup_) {
    absl::StatusOr<std::string> mount = kernel::ReadCgroup2Mount();
    EXPECT_TRUE(mount.ok()) << mount.status();
    const std::string path = absl::StrCat(*mount, "/gk-test-", UniqueName("act"));
    absl::StatusOr<kernel::Cgroup> cgroup = kernel::Cgroup::CreateOrOpen(path);
    EXPECT_TRUE(cgroup.ok()) << cgroup.status();
    cgroup_.emplace(*std::move(cgroup));
  }
  return *cgroup_;
}

std::map<std::string, std::string> ActivationTest::ReadPrintedEnv() {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  std::map<std::string, std::string> env;
  size_t next = 0;
  int args = 0;
  for (;;) {
    for (; next < output_lines_.size(); ++next) {
      const std::string& line = output_lines_[next];
      if (!absl::StartsWith(line, "svc: ")) continue;
      const std::string text = line.substr(5);
      if (text == "END") {
        ++next;
        return env;
      }
      const size_t eq = text.find('=');
      if (eq == std::string::npos) continue;
      const std::string name = text.substr(0, eq);
      env[name == "ARG" ? absl::StrCat("ARG", args++) : name] = text.substr(eq + 1);
    }
    pollfd p{output_->fd(), POLLIN, 0};
    const int left = RemainingMs(deadline);
    if (left == 0 || poll(&p, 1, left) != 1) {
      ADD_FAILURE() << "no END line from the service";
      return env;
    }
    absl::StatusOr<bool> more = output_->OnReadable();
    if (!more.ok() || !*more) {
      ADD_FAILURE() << "service output ended before END";
      return env;
    }
  }
}

UniqueFd ActivationTest::Connect(const std::string& ip, uint16_t port) {
  auto address = common::SocketAddress::Parse(ip, port);
  if (!address.ok()) return {};
  UniqueFd fd(socket(address->family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (connect(fd.get(), address->get(), address->length) != 0 && errno != EINPROGRESS) return {};
  if (!WaitConnected(fd.get(), kDeadline)) return {};
  return fd;
}

std::string ActivationTest::AskOn(int fd) {
  if (send(fd, "hello\n", 6, MSG_NOSIGNAL) != 6) return "";
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  std::string reply;
  while (reply.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    const int left = RemainingMs(deadline);
    if (left == 0 || poll(&p, 1, left) != 1) return "";
    char buffer[256];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return "";
    reply.append(buffer, n);
  }
  return reply.substr(0, reply.find('\n'));
}

std::string ActivationTest::Ask(const std::string& ip, uint16_t port) {
  UniqueFd fd = Connect(ip, port);
  return fd ? AskOn(fd.get()) : "";
}

bool ActivationTest::WaitReadable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  // A pipe whose writers are gone reports POLLHUP alone once it is drained.
  return poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
         (p.revents & (POLLIN | POLLHUP | POLLERR));
}

std::set<int> ActivationTest::OpenFds(pid_t pid) {
  std::set<int> fds;
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    int fd;
    if (absl::SimpleAtoi(entry.path().filename().string(), &fd)) fds.insert(fd);
  }
  return fds;
}

std::string ActivationTest::FdTarget(pid_t pid, int fd) {
  std::error_code ec;
  return std::filesystem::read_symlink(absl::StrCat("/proc/", pid, "/fd/", fd), ec).string();
}

std::string ActivationTest::StatusField(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field + ":")) {
      std::string value = line.substr(field.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "<missing>";
}

std::string ActivationTest::SocketLink(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return "?";
  return absl::StrCat("socket:[", st.st_ino, "]");
}

}  // namespace gatekeeper::testing
