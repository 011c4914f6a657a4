#include "tests/e2e/daemon_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/control_client.h"
#include "gtest/gtest.h"
#include "kernel/cgroup.h"
#include "kernel/mountinfo.h"

extern char** environ;

namespace gatekeeper::testing {

std::string GatekeeperBinary() { return GK_GATEKEEPER_BINARY; }
std::string TestServiceBinary() { return GK_TEST_SERVICE_BINARY; }

std::string Ask(int fd, std::chrono::milliseconds timeout) {
  if (::send(fd, "hi\n", 3, MSG_NOSIGNAL) != 3) return "";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string reply;
  while (reply.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) != 1) return "";
    char buf[256];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return "";
    reply.append(buf, n);
  }
  return reply.substr(0, reply.find('\n'));
}

DaemonProcess::DaemonProcess(const std::map<std::string, std::string>& files) {
  tag_ = UniqueName("gk");
  config_dir_ = absl::StrCat("/tmp/gk-test-", tag_, "/etc");
  runtime_dir_ = absl::StrCat("/tmp/gk-test-", tag_, "/run");
  notify_path_ = absl::StrCat("/tmp/gk-test-", tag_, "/notify");
  std::filesystem::create_directories(config_dir_);
  std::filesystem::create_directories(runtime_dir_);
  for (const auto& [name, text] : files) {
    const std::filesystem::path p = std::filesystem::path(config_dir_) / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  auto cgroup2 = kernel::ReadCgroup2Mount();
  EXPECT_TRUE(cgroup2.ok());
  cgroup_base_ = absl::StrCat(cgroup2.ok() ? *cgroup2 : "/sys/fs/cgroup", "/gk-test-", tag_);
  bpffs_dir_ = absl::StrCat("/sys/fs/bpf/gk-test-", tag_);

  notify_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, notify_path_.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(::bind(notify_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) Stop();
  StopDrain();
  // After a failed test a killed daemon's services may still run: they go first, or the cgroups
  // cannot be removed.
  for (const std::string& cg : kernel::ChildCgroups(cgroup_base_ + "/gates")) {
    if (auto c = kernel::Cgroup::Open(cg); c.ok() && !c->WaitEmpty(absl::ZeroDuration()).ok()) {
      (void)c->KillAll();
      (void)c->WaitEmpty(absl::Seconds(5));
    }
  }
  // A graceful stop leaves nothing; this is for the tests that fail, kill the daemon, make the
  // base themselves or start the daemon inside it (then supervisor and base stay, as under
  // systemd).
  (void)kernel::RemoveCgroupTree(cgroup_base_);
  std::filesystem::remove_all(bpffs_dir_);
  std::filesystem::remove_all(absl::StrCat("/tmp/gk-test-", tag_));
}

void DaemonProcess::WriteConfig(const std::string& name, const std::string& text) const {
  const std::filesystem::path p = std::filesystem::path(config_dir_) / name;
  std::filesystem::create_directories(p.parent_path());
  // Written aside and renamed: a reload must never read a half-written file.
  const std::filesystem::path tmp = p.string() + ".tmp~";
  std::ofstream(tmp) << text;
  std::filesystem::rename(tmp, p);
}

void DaemonProcess::RemoveConfig(const std::string& name) const {
  std::filesystem::remove(std::filesystem::path(config_dir_) / name);
}

absl::StatusOr<nlohmann::json> DaemonProcess::Request(const nlohmann::json& request,
                                                      int timeout_ms) const {
  return daemon::ControlRequest(runtime_dir_ + "/control.sock", request, timeout_ms);
}

void DaemonProcess::StopDrain() {
  draining_ = false;
  if (drain_.joinable()) drain_.join();
}

bool DaemonProcess::Start(const Netns& netns, std::chrono::milliseconds timeout) {
  StopDrain();
  const std::string log = runtime_dir_ + "/daemon.log";
  // nsenter enters only the network namespace; `ip netns exec` would also remount /sys, hiding
  // the cgroup and bpf file systems from the daemon.
  const std::vector<std::string> argv = {
      "nsenter",          absl::StrCat("--net=/var/run/netns/", netns.name()),
      GatekeeperBinary(), "run",
      "--config-dir",     config_dir_,
      "--runtime-dir",    runtime_dir_,
      "--cgroup-base",    cgroup_base_,
      "--bpffs-dir",      bpffs_dir_};
  std::vector<std::string> full;
  if (!start_cgroup_.empty()) {
    // The shell moves itself (echo is a builtin) and then becomes nsenter, then gatekeeper.
    full = {"/bin/sh", "-c", R"(echo 0 >"$0" && exec "$@")", start_cgroup_ + "/cgroup.procs"};
  }
  full.insert(full.end(), argv.begin(), argv.end());
  full.insert(full.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> args;
  for (const std::string& a : full) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "NOTIFY_SOCKET=") && !absl::StartsWith(*e, "INVOCATION_ID=")) {
      env_store.push_back(*e);
    }
  }
  env_store.push_back("NOTIFY_SOCKET=" + notify_path_);
  std::vector<char*> env;
  for (std::string& e : env_store) env.push_back(e.data());
  env.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int err = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return false;

  // READY=1 arrives on our datagram socket; nothing else to wait for.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{notify_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 200))) == 1) {
      char buf[4096];
      const ssize_t n = ::recv(notify_.get(), buf, sizeof(buf), 0);
      if (n > 0 && absl::StrContains(std::string(buf, n), "READY=1")) {
        draining_ = true;
        drain_ = std::thread([this] {
          while (draining_) {
            pollfd p{notify_.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) == 1) {
              char discard[4096];
              (void)::recv(notify_.get(), discard, sizeof(discard), MSG_DONTWAIT);
            }
          }
        });
        return true;
      }
    }
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // died before READY
      pid_ = -1;
      return false;
    }
  }
}

absl::StatusOr<nlohmann::json> DaemonProcess::Status(const std::string& gate) const {
  nlohmann::json req = {{"command", "status"}};
  if (!gate.empty()) req["gate"] = gate;
  return daemon::ControlRequest(runtime_dir_ + "/control.sock", req, 5000);
}

nlohmann::json DaemonProcess::Gate(const std::string& gate) const {
  auto s = Status(gate);
  if (!s.ok() || !(*s)["gates"].is_array() || (*s)["gates"].empty())
    return nlohmann::json::object();
  return (*s)["gates"][0];
}

bool DaemonProcess::WaitGateState(const std::string& gate, const std::string& state,
                                  std::chrono::milliseconds timeout) const {
  return WaitFor([&] { return Gate(gate).value("state", "") == state; }, timeout);
}

int DaemonProcess::Stop() {
  exit_cgroup_.clear();
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  // Waited for without reaping: a zombie still shows the cgroup it exited in.
  siginfo_t info{};
  bool exited = WaitFor(
      [&] {
        info.si_pid = 0;
        return ::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               info.si_pid == pid_;
      },
      std::chrono::seconds(15));
  if (!exited) {
    Kill();
    return -1;
  }
  if (auto cgroup2 = kernel::ReadCgroup2Mount(); cgroup2.ok()) {
    if (auto cg = kernel::CgroupOfProcess(*cgroup2, pid_); cg.ok()) exit_cgroup_ = *cg;
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void DaemonProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::string DaemonProcess::Log() const {
  std::ifstream in(runtime_dir_ + "/daemon.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string DaemonProcess::PinDir() const {
  const std::string log = Log();
  const std::string marker = "pins in ";
  const size_t at = log.rfind(marker);
  if (at == std::string::npos) return "";
  const size_t start = at + marker.size();
  return log.substr(start, log.find('\n', start) - start);
}

}  // namespace gatekeeper::testing
