#include "tests/integration/engine_fixture.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/socket_address.h"
#include "kernel/cgroup.h"
#include "kernel/kernel_support.h"
#include "kernel/socket_in_cgroup.h"

namespace gatekeeper::testing {

using common::UniqueFd;

void EngineFixture::SetUp() {
  GK_REQUIRE_ROOT();
  kernel::LiveKernelProbe probe;
  const std::optional<std::string> cgroup2 = probe.Cgroup2Mount();
  ASSERT_TRUE(cgroup2.has_value()) << "no cgroup v2 mount";
  const std::string tag = UniqueName("gk");
  cgroup_root_ = absl::StrCat(*cgroup2, "/gk-test-", tag);
  bpffs_dir_ = absl::StrCat("/sys/fs/bpf/gk-test-", tag);
  ASSERT_TRUE(kernel::Cgroup::CreateOrOpen(cgroup_root_).ok());
  auto engine = kernel::Engine::Open(Options(), probe);
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine_ = *std::move(engine);

  srv_ = std::make_unique<Netns>(UniqueName("gks"));
  cli_ = std::make_unique<Netns>(UniqueName("gkc"));
  const auto [veth_srv, veth_cli] = ConnectNamespaces(*srv_, "192.0.2.1/24", *cli_, "192.0.2.2/24");
  srv_->Ip({"addr", "add", "2001:db8::1/64", "dev", veth_srv, "nodad"});
  cli_->Ip({"addr", "add", "192.0.2.3/24", "dev", veth_cli});
  cli_->Ip({"addr", "add", "2001:db8::2/64", "dev", veth_cli, "nodad"});
  cli_->Ip({"addr", "add", "2001:db8::3/64", "dev", veth_cli, "nodad"});
  ready_ = !HasFatalFailure();
}

void EngineFixture::TearDown() {
  if (!IsRoot()) return;
  if (engine_) {
    EXPECT_TRUE(engine_->RemoveAll().ok());
    engine_.reset();
  }
  cli_.reset();
  srv_.reset();
  if (!cgroup_root_.empty()) {
    EXPECT_TRUE(kernel::RemoveCgroupTree(cgroup_root_).ok());
  }

  // Nothing of the test may remain.
  std::error_code ec;
  EXPECT_FALSE(std::filesystem::exists(cgroup_root_, ec)) << cgroup_root_;
  EXPECT_FALSE(std::filesystem::exists(bpffs_dir_, ec)) << bpffs_dir_;
  EXPECT_TRUE(NoChildProcesses());
}

kernel::EngineOptions EngineFixture::Options() {
  return {.bpffs_dir = bpffs_dir_,
          .warn = [this](const std::string& message) { warnings_.push_back(message); }};
}

policy::CompiledPolicy EngineFixture::Policy(const std::string& allow, const std::string& deny) {
  policy::AccessLists lists;
  const policy::Origin a{.file = "test.gate", .line = 1, .key = "IPAddressAllow"};
  const policy::Origin d{.file = "test.gate", .line = 2, .key = "IPAddressDeny"};
  EXPECT_TRUE(lists.allow.Assign(allow, a).ok()) << allow;
  EXPECT_TRUE(lists.deny.Assign(deny, d).ok()) << deny;
  return policy::Compile(lists);
}

kernel::ScopeSpec EngineFixture::Spec(const std::string& name, uint32_t id) const {
  kernel::ScopeSpec spec;
  spec.name = name;
  spec.id = id;
  spec.cgroup_path = absl::StrCat(cgroup_root_, "/", name);
  return spec;
}

UniqueFd EngineFixture::ListenIn(const std::string& cgroup_path, const std::string& ip, int type) {
  return SocketInCgroup(cgroup_path, *srv_, ip, type, type == SOCK_STREAM ? 128 : 0);
}

UniqueFd EngineFixture::SocketInCgroup(const std::string& cgroup_path, const Netns& netns,
                                       const std::string& ip, int type, int backlog) {
  auto cgroup = kernel::Cgroup::CreateOrOpen(cgroup_path);
  EXPECT_TRUE(cgroup.ok()) << cgroup.status();
  if (!cgroup.ok()) return {};
  kernel::SocketRequest req;
  req.type = type;
  auto bind = common::SocketAddress::Parse(ip, 0);
  EXPECT_TRUE(bind.ok()) << bind.status();
  if (!bind.ok()) return {};
  req.bind = *bind;
  req.family = bind->family();
  req.backlog = backlog;
  auto fd = kernel::CreateSocketInCgroup(cgroup->fd(), netns.fd(), req);
  EXPECT_TRUE(fd.ok()) << fd.status();
  return fd.ok() ? *std::move(fd) : UniqueFd();
}

kernel::ScopeStats EngineFixture::Stats(kernel::Scope* scope) {
  auto s = scope->ReadStats();
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : kernel::ScopeStats{};
}

bool EngineFixture::WaitDenied(kernel::Scope* scope, const kernel::ScopeStats& before,
                               kernel::Direction dir, uint64_t n) {
  const int d = static_cast<int>(dir);
  return WaitFor([&] { return Stats(scope).denied[d].packets >= before.denied[d].packets + n; });
}

struct EchoServer::State {
  int listen_fd;
  UniqueFd stop{::eventfd(0, EFD_CLOEXEC)};
  std::atomic<int> accepted{0};
  std::thread thread;
};

EchoServer::EchoServer(int listen_fd) : state_(std::make_unique<State>()) {
  state_->listen_fd = listen_fd;
  state_->thread = std::thread([s = state_.get()] {
    std::vector<UniqueFd> conns;
    for (;;) {
      std::vector<pollfd> fds = {{s->stop.get(), POLLIN, 0}, {s->listen_fd, POLLIN, 0}};
      for (const UniqueFd& c : conns) fds.push_back({c.get(), POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) return;
      if (fds[1].revents & POLLIN) {
        UniqueFd c(::accept4(s->listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
        if (c) {
          ++s->accepted;
          conns.push_back(std::move(c));
        }
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        char b;
        if (::recv(fds[i].fd, &b, 1, 0) == 1) {
          b = static_cast<char>(std::toupper(b));
          ::send(fds[i].fd, &b, 1, MSG_NOSIGNAL);
        } else {
          conns[i - 2].reset();  // closed; swept below
        }
      }
      std::erase_if(conns, [](const UniqueFd& c) { return !c.valid(); });
    }
  });
}

EchoServer::~EchoServer() {
  const uint64_t one = 1;
  (void)!::write(state_->stop.get(), &one, sizeof(one));
  state_->thread.join();
}

int EchoServer::accepted() const { return state_->accepted.load(); }

}  // namespace gatekeeper::testing
