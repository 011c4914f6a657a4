#include "tests/bench/link_bench_netns.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "tests/bench/link_bench_clock.h"
#include "tests/bench/link_bench_command.h"
#include "tests/bench/link_bench_topology.h"

namespace gatekeeper::bench {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;

// Writes "1" to a sysctl of the calling thread's network namespace; absent files (no IPv6 in
// this kernel) are fine.
absl::Status DisableIpv6() {
  for (const char* which : {"all", "default"}) {
    const std::string path = absl::StrCat("/proc/sys/net/ipv6/conf/", which, "/disable_ipv6");
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) return absl::OkStatus();
      return ErrnoStatus(errno, absl::StrCat("open ", path));
    }
    if (::write(fd.get(), "1", 1) != 1) return ErrnoStatus(errno, absl::StrCat("write ", path));
  }
  return absl::OkStatus();
}

}  // namespace

Network::Network(const std::string& tag, Daemon& daemon)
    : daemon_(daemon), tag_(tag), server_ns_(tag + "s"), client_ns_(tag + "c") {}

absl::Status Network::Run(const std::vector<std::string>& argv) {
  return RunCommand(argv, daemon_);
}

absl::Status Network::EnterNamespace(int ns_fd, const std::string& what) {
  if (::setns(ns_fd, CLONE_NEWNET) != 0) return ErrnoStatus(errno, "setns into " + what);
  return absl::OkStatus();
}

absl::Status Network::Make(const std::string& root_dir) {
  root_dir_ = root_dir;
  GK_RETURN_IF_ERROR(WriteBatches(root_dir_));
  return MakeNamespaces();
}

absl::Status Network::MakeNamespaces() {
  original_ns_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!original_ns_) return ErrnoStatus(errno, "open /proc/thread-self/ns/net");
  // `ip netns add` refuses a name that exists: a namespace of someone else is never reused (and
  // never deleted by Remove()).
  GK_RETURN_IF_ERROR(Run({"ip", "netns", "add", server_ns_}));
  made_server_ns_ = true;
  GK_RETURN_IF_ERROR(Run({"ip", "netns", "add", client_ns_}));
  made_client_ns_ = true;
  server_ns_fd_.reset(::open(("/var/run/netns/" + server_ns_).c_str(), O_RDONLY | O_CLOEXEC));
  client_ns_fd_.reset(::open(("/var/run/netns/" + client_ns_).c_str(), O_RDONLY | O_CLOEXEC));
  if (!server_ns_fd_ || !client_ns_fd_) return ErrnoStatus(errno, "open /var/run/netns/" + tag_);

  // No IPv6 in either namespace: the kernel would otherwise give each veth end a link-local
  // address, and the benchmark's devices carry the two IPv4 addresses and nothing else. Set on
  // "default" before the veths exist, so that every re-created one inherits it.
  GK_RETURN_IF_ERROR(EnterNamespace(server_ns_fd_.get(), server_ns_));
  GK_RETURN_IF_ERROR(DisableIpv6());
  // A netlink socket stays in the namespace it was created in, whichever namespace its user
  // moves to: this one sets the server end up and down for the whole run.
  rtnl_.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
  if (!rtnl_) return ErrnoStatus(errno, "open an rtnetlink socket");
  sockaddr_nl local{.nl_family = AF_NETLINK};
  if (::bind(rtnl_.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    return ErrnoStatus(errno, "bind the rtnetlink socket");
  }
  GK_RETURN_IF_ERROR(EnterNamespace(client_ns_fd_.get(), client_ns_));
  GK_RETURN_IF_ERROR(DisableIpv6());
  return CreateVeth(/*server_up=*/true);
}

absl::Status Network::CreateVeth(bool server_up) {
  // Two `ip -batch` runs instead of five commands: recreate mode does this every cycle.
  GK_RETURN_IF_ERROR(Run({"ip", "-n", server_ns_, "-batch", root_dir_ + "/server.batch"}));
  GK_RETURN_IF_ERROR(Run({"ip", "-n", client_ns_, "-batch", root_dir_ + "/client.batch"}));
  if (!server_up) return absl::OkStatus();
  return Run({"ip", "-n", server_ns_, "link", "set", kServerDevice, "up"});
}

absl::Status Network::WriteBatches(const std::string& root_dir) {
  const std::string server = absl::StrCat(
      // Made in the server namespace, its peer directly in the client's: neither name ever
      // exists in the machine's own namespace. A fixed MAC for the neighbour entry below.
      "link add ", kServerDevice, " address ", kServerMac, " type veth peer name ", kClientDevice,
      " netns ", client_ns_, "\n",  //
      "address add ", kServerAddress, "/24 dev ", kServerDevice, "\n");
  const std::string client = absl::StrCat(
      "address add ", kClientAddress, "/24 dev ", kClientDevice, "\n",
      // Without it the client's first packet after the up waits for ARP, and the ARP request
      // is lost while the kernel has not yet activated the client end's queue after the carrier
      // came on (linkwatch runs asynchronously): the SYN then sits in the neighbour queue until
      // ARP retries a second later. That second is the test network's, not the gate's; a
      // permanent entry survives carrier loss, so it is there when the device comes back.
      "neighbour replace ", kServerAddress, " lladdr ", kServerMac, " dev ", kClientDevice,
      " nud permanent\n",  //
      "link set ", kClientDevice, " up\n");
  for (const auto& [name, text] : {std::pair{"/server.batch", server}, {"/client.batch", client}}) {
    std::ofstream out(root_dir + name);
    out << text;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", root_dir, name));
  }
  return absl::OkStatus();
}

absl::Status Network::SetClientUp() {
  return Run({"ip", "-n", client_ns_, "link", "set", kClientDevice, "up"});
}

absl::Status Network::DeleteVeth() {
  return Run({"ip", "-n", server_ns_, "link", "delete", kServerDevice});
}

absl::StatusOr<bool> Network::ServerDeviceExists() {
  const absl::Status s = Run({"ip", "-n", server_ns_, "link", "show", "dev", kServerDevice});
  if (absl::IsCancelled(s)) return s;
  return s.ok();
}

absl::Status Network::SendServerLink(bool up) {
  struct {
    nlmsghdr header;
    ifinfomsg info;
    char attributes[64];
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  request.header.nlmsg_type = RTM_NEWLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.header.nlmsg_seq = ++rtnl_seq_;
  request.info.ifi_family = AF_UNSPEC;
  request.info.ifi_flags = up ? IFF_UP : 0;
  request.info.ifi_change = IFF_UP;
  // By name (ifi_index 0): the ifindex changes whenever the pair is re-created.
  auto* name = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&request) +
                                         NLMSG_ALIGN(request.header.nlmsg_len));
  const size_t name_len = std::strlen(kServerDevice) + 1;
  name->rta_type = IFLA_IFNAME;
  name->rta_len = RTA_LENGTH(name_len);
  std::memcpy(RTA_DATA(name), kServerDevice, name_len);
  request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(name->rta_len);
  sockaddr_nl kernel{.nl_family = AF_NETLINK};
  if (::sendto(rtnl_.get(), &request, request.header.nlmsg_len, 0,
               reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    return ErrnoStatus(errno, "send RTM_NEWLINK");
  }
  return absl::OkStatus();
}

absl::Status Network::WaitServerAck(int64_t deadline_ns) {
  for (;;) {
    alignas(nlmsghdr) char buf[8192];
    const ssize_t n = ::recv(rtnl_.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return ErrnoStatus(errno, "receive the RTM_NEWLINK acknowledgement");
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); n > 0 && NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      // Acks of earlier requests (one abandoned by a failed cycle) are skipped.
      if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq != rtnl_seq_) continue;
      const int error = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
      if (error != 0) return ErrnoStatus(error, absl::StrCat("RTM_NEWLINK ", kServerDevice));
      return absl::OkStatus();
    }
    if (n >= 0) continue;
    if (NowNs() >= deadline_ns) {
      return absl::DeadlineExceededError("no acknowledgement for RTM_NEWLINK");
    }
    pollfd p{rtnl_.get(), POLLIN, 0};
    GK_RETURN_IF_ERROR(daemon_.Poll({&p, 1}, deadline_ns));
  }
}

void Network::Remove(std::vector<std::string>& problems) {
  // Back home first, and no socket left in the server namespace: once its name is gone, nothing
  // holds it and the kernel frees it with the veth pair.
  if (original_ns_) (void)EnterNamespace(original_ns_.get(), "the original namespace");
  rtnl_.reset();
  server_ns_fd_.reset();
  client_ns_fd_.reset();
  std::error_code ec;
  for (auto [made, name] :
       {std::pair{made_server_ns_, server_ns_}, {made_client_ns_, client_ns_}}) {
    if (!made) continue;
    if (absl::Status s = Run({"ip", "netns", "delete", name}); !s.ok()) {
      problems.push_back(std::string(s.message()));
    }
    if (std::filesystem::exists("/var/run/netns/" + name, ec)) {
      problems.push_back(absl::StrCat("network namespace ", name, " is still there"));
    }
  }
}

}  // namespace gatekeeper::bench
