#include "tests/e2e/wireguard_env.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

extern char** environ;

namespace gatekeeper::testing {
namespace {

constexpr int kServerPort = 51820;

// Writes a key to a file `wg set ... private-key FILE` can read; removed right after.
class KeyFile {
 public:
  explicit KeyFile(const std::string& key) {
    char tmpl[] = "/tmp/gk-wgkey-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    path_ = tmpl;
    if (fd >= 0) {
      (void)!::write(fd, key.data(), key.size());
      ::close(fd);
    }
  }
  ~KeyFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool LinkExists(const Netns& ns, const std::string& name) {
  std::string out;
  return Run({"ip", "-n", ns.name(), "link", "show", name}, &out) == 0;
}

}  // namespace

std::string WgGenKey() {
  std::string out;
  EXPECT_EQ(Run({"wg", "genkey"}, &out), 0);
  return std::string(absl::StripAsciiWhitespace(out));
}

std::string WgPubKey(const std::string& private_key) {
  // `wg pubkey` reads stdin; a shell pipe is the simplest way to feed it.
  std::string out;
  EXPECT_EQ(Run({"sh", "-c", absl::StrCat("echo '", private_key, "' | wg pubkey")}, &out), 0);
  return std::string(absl::StripAsciiWhitespace(out));
}

WireGuardEnv::WireGuardEnv() {
  srv_ = std::make_unique<Netns>(UniqueName("gks"));
  cli_ = std::make_unique<Netns>(UniqueName("gkc"));
  ConnectNamespaces(*srv_, absl::StrCat(kUnderlayServer, "/24"), *cli_,
                    absl::StrCat(kUnderlayClient, "/24"));

  // wireguard-go keeps its control socket in /var/run/wireguard/NAME.sock for every namespace:
  // names must be unique machine-wide.
  server_.name = server_dev_ = UniqueName("wgs");
  peer_a_.name = UniqueName("wga");
  peer_b_.name = UniqueName("wgb");
  for (Device* d : {&server_, &peer_a_, &peer_b_}) {
    d->private_key = WgGenKey();
    d->public_key = WgPubKey(d->private_key);
  }
  StartWireGuardGo(*cli_, peer_a_);
  StartWireGuardGo(*cli_, peer_b_);
  ConfigureClient(peer_a_, kTunnelPeerA);
  ConfigureClient(peer_b_, kTunnelPeerB);
}

WireGuardEnv::~WireGuardEnv() {
  for (Device* d : {&server_, &peer_a_, &peer_b_}) StopWireGuardGo(*d);
  cli_.reset();
  srv_.reset();
}

void WireGuardEnv::StartWireGuardGo(const Netns& ns, Device& dev) {
  const std::vector<std::string> argv = {
      "ip",           "netns", "exec",
      ns.name(),      "env",   "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
      "wireguard-go", "-f",    dev.name};
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  ASSERT_EQ(posix_spawnp(&dev.pid, "ip", &actions, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ASSERT_TRUE(WaitFor([&] { return LinkExists(ns, dev.name); })) << "wireguard-go " << dev.name;
}

void WireGuardEnv::StopWireGuardGo(Device& dev) {
  if (dev.pid <= 0) return;
  ::kill(dev.pid, SIGTERM);
  while (::waitpid(dev.pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  dev.pid = -1;
}

void WireGuardEnv::ConfigureClient(const Device& dev, const std::string& address) {
  KeyFile key(dev.private_key);
  MustRun({"ip", "netns", "exec", cli_->name(), "wg", "set", dev.name, "private-key", key.path(),
           "peer", server_.public_key, "endpoint", absl::StrCat(kUnderlayServer, ":", kServerPort),
           "allowed-ips", absl::StrCat(kTunnelServer, "/32")});
  cli_->Ip({"addr", "add", absl::StrCat(address, "/32"), "dev", dev.name});
  cli_->Ip({"link", "set", dev.name, "up"});
  // Both client devices reach the same server address: route by source so each peer's packets
  // leave through its own device (WireGuard drops them on the wrong peer's allowed-ips).
  const std::string table = address == kTunnelPeerA ? "102" : "103";
  cli_->Ip({"rule", "add", "from", address, "table", table});
  cli_->Ip({"route", "add", absl::StrCat(kTunnelServer, "/32"), "dev", dev.name, "table", table});
}

void WireGuardEnv::CreateServerDevice() {
  StartWireGuardGo(*srv_, server_);
  KeyFile key(server_.private_key);
  MustRun({"ip", "netns", "exec", srv_->name(), "wg", "set", server_.name, "private-key",
           key.path(), "listen-port", absl::StrCat(kServerPort), "peer", peer_a_.public_key,
           "allowed-ips", absl::StrCat(kTunnelPeerA, "/32"), "peer", peer_b_.public_key,
           "allowed-ips", absl::StrCat(kTunnelPeerB, "/32")});
  srv_->Ip({"addr", "add", absl::StrCat(kTunnelServer, "/24"), "dev", server_.name});
  srv_->Ip({"link", "set", server_.name, "up"});
}

void WireGuardEnv::DeleteServerDevice() {
  srv_->Ip({"link", "del", server_.name});
  if (server_.pid > 0) {  // it exits with its device
    while (::waitpid(server_.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    server_.pid = -1;
  }
}

void WireGuardEnv::ResetClientPeers() {
  for (const Device* d : {&peer_a_, &peer_b_}) {
    MustRun({"ip", "netns", "exec", cli_->name(), "wg", "set", d->name, "peer", server_.public_key,
             "remove"});
    MustRun({"ip", "netns", "exec", cli_->name(), "wg", "set", d->name, "peer", server_.public_key,
             "endpoint", absl::StrCat(kUnderlayServer, ":", kServerPort), "allowed-ips",
             absl::StrCat(kTunnelServer, "/32")});
  }
}

}  // namespace gatekeeper::testing
