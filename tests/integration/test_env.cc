#include "tests/integration/test_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/socket_address.h"
#include "gtest/gtest.h"

extern char** environ;

namespace gatekeeper::testing {

using common::UniqueFd;

bool IsRoot() { return ::geteuid() == 0; }

bool PrivilegedRequired() {
  const char* v = std::getenv("GATEKEEPER_REQUIRE_PRIVILEGED");
  return v != nullptr && std::string(v) == "1";
}

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return absl::StrCat(prefix, ::getpid() % 100000, "x", counter++);
}

int Run(const std::vector<std::string>& argv, std::string* output) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  const int err = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipefd[1]);
  UniqueFd reader(pipefd[0]);
  if (err != 0) return -1;
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(reader.get(), buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out.append(buf, n);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (output) *output = out;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (!output) std::fprintf(stderr, "%s: %s", absl::StrJoin(argv, " ").c_str(), out.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }
  return 0;
}

void MustRun(const std::vector<std::string>& argv) {
  std::string out;
  ASSERT_EQ(Run(argv, &out), 0) << absl::StrJoin(argv, " ") << "\n" << out;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
    // Polling a kernel counter: a short pause keeps this from eating the core the kernel needs.
    ::poll(nullptr, 0, 1);
  }
  return true;
}

Netns::Netns(std::string name) : name_(std::move(name)) {
  MustRun({"ip", "netns", "add", name_});
  fd_.reset(::open(absl::StrCat("/var/run/netns/", name_).c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(fd_.valid()) << "open netns " << name_ << ": " << std::strerror(errno);
  Ip({"link", "set", "lo", "up"});
}

Netns::~Netns() {
  fd_.reset();
  Run({"ip", "netns", "del", name_});
}

void Netns::Ip(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ip", "-n", name_};
  argv.insert(argv.end(), args.begin(), args.end());
  MustRun(argv);
}

std::pair<std::string, std::string> ConnectNamespaces(const Netns& a, const std::string& cidr_a,
                                                      const Netns& b, const std::string& cidr_b) {
  const std::string va = UniqueName("va"), vb = UniqueName("vb");
  MustRun({"ip", "link", "add", va, "netns", a.name(), "type", "veth", "peer", "name", vb, "netns",
           b.name()});
  a.Ip({"addr", "add", cidr_a, "dev", va});
  b.Ip({"addr", "add", cidr_b, "dev", vb});
  a.Ip({"link", "set", va, "up"});
  b.Ip({"link", "set", vb, "up"});
  return {va, vb};
}

UniqueFd SocketIn(const Netns& netns, int family, int type) {
  UniqueFd result;
  // setns() switches only the calling thread, so a throwaway thread keeps the test's own
  // namespace untouched; the socket stays in the namespace it was made in.
  std::thread t([&] {
    if (::setns(netns.fd(), CLONE_NEWNET) != 0) return;
    result.reset(::socket(family, type | SOCK_CLOEXEC, 0));
  });
  t.join();
  return result;
}

sockaddr_storage MakeAddr(const std::string& ip, uint16_t port, socklen_t* len) {
  auto a = common::SocketAddress::Parse(ip, port);
  EXPECT_TRUE(a.ok()) << a.status();
  *len = a.ok() ? a->length : 0;
  return a.ok() ? a->storage : sockaddr_storage{};
}

uint16_t LocalPort(int fd) {
  auto a = common::SocketAddress::LocalOf(fd);
  return a.ok() ? a->port() : 0;
}

UniqueFd StartConnect(const Netns& netns, const std::string& source, const std::string& dest,
                      uint16_t port) {
  const int family = dest.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  UniqueFd fd = SocketIn(netns, family, SOCK_STREAM | SOCK_NONBLOCK);
  if (!fd) return fd;
  socklen_t len;
  sockaddr_storage src = MakeAddr(source, 0, &len);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), len) != 0) return {};
  sockaddr_storage dst = MakeAddr(dest, port, &len);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), len) != 0 && errno != EINPROGRESS) {
    return {};
  }
  return fd;
}

bool WaitConnected(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  int err = 0;
  socklen_t len = sizeof(err);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

bool Exchange(int fd, std::chrono::milliseconds timeout) {
  const char out = 'q';
  if (::send(fd, &out, 1, MSG_NOSIGNAL) != 1) return false;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  char in = 0;
  return ::recv(fd, &in, 1, 0) == 1 && in == 'Q';
}

bool NoChildProcesses() { return ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD; }

}  // namespace gatekeeper::testing
