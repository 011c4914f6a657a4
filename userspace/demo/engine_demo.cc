// gatekeeper-demo: the engine on two network namespaces that scripts/demo prepares. A listener is
// made inside a gate's cgroup with the embedded default lists below; an allowed and a denied
// client connect; the verdicts, the denial event and the counters are printed.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/socket_address.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "gate_abi.h"
#include "kernel/cgroup.h"
#include "kernel/denial_events.h"
#include "kernel/engine.h"
#include "kernel/kernel_support.h"
#include "kernel/socket_in_cgroup.h"
#include "policy/compiler.h"

namespace gatekeeper::demo {
namespace {

using common::SocketAddress;
using common::UniqueFd;

// The embedded default, as it would read in a gate file (gate files come with the gates issue).
constexpr char kGateFile[] = "demo.gate";
constexpr char kGateText[] =
    "[Socket]\n"
    "ListenStream=192.0.2.1:8443\n"
    "IPAddressDeny=any\n"
    "IPAddressAllow=192.0.2.2 2001:db8::2\n";
constexpr char kDeny[] = "any";
constexpr int kDenyLine = 3;
constexpr char kAllow[] = "192.0.2.2 2001:db8::2";
constexpr int kAllowLine = 4;
constexpr char kServer[] = "192.0.2.1";
constexpr uint16_t kPort = 8443;
constexpr char kAllowedClient[] = "192.0.2.2";
constexpr char kDeniedClient[] = "192.0.2.3";

struct Options {
  std::string server_netns;
  std::string client_netns;
  std::string cgroup_base;
  std::string bpffs_dir;
};

absl::StatusOr<UniqueFd> OpenNetns(const std::string& name) {
  UniqueFd fd(::open(absl::StrCat("/var/run/netns/", name).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return absl::NotFoundError(absl::StrCat("network namespace ", name, " not found"));
  return fd;
}

// A socket bound to `source` inside the client namespace (and the demo's client cgroup).
absl::StatusOr<UniqueFd> ClientSocket(const kernel::Cgroup& cgroup, int netns, const char* source) {
  kernel::SocketRequest req;
  req.family = AF_INET;
  req.type = SOCK_STREAM | SOCK_NONBLOCK;
  GK_ASSIGN_OR_RETURN(req.bind, SocketAddress::Parse(source, 0));
  return kernel::CreateSocketInCgroup(cgroup.fd(), netns, req);
}

// Connects within `ms`; true when connected and one line came back.
bool TryConnect(int fd, int ms, std::string* reply) {
  auto server = SocketAddress::Parse(kServer, kPort);
  if (::connect(fd, server->get(), server->length) != 0 && errno != EINPROGRESS) return false;
  pollfd p{fd, POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof(err);
  if (::poll(&p, 1, ms) != 1 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
    return false;
  }
  p = {fd, POLLIN, 0};
  char buf[128];
  if (::poll(&p, 1, ms) != 1) return false;
  const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  if (n > 0) reply->assign(buf, n);
  return n > 0;
}

void PrintStats(const kernel::ScopeStats& s) {
  std::printf("\n  %-10s %-8s %10s %10s\n", "direction", "verdict", "packets", "bytes");
  const char* dirs[] = {"ingress", "egress"};
  for (int d = 0; d < 2; ++d) {
    std::printf("  %-10s %-8s %10llu %10llu\n", dirs[d], "allowed",
                static_cast<unsigned long long>(s.allowed[d].packets),
                static_cast<unsigned long long>(s.allowed[d].bytes));
    std::printf("  %-10s %-8s %10llu %10llu\n", dirs[d], "denied",
                static_cast<unsigned long long>(s.denied[d].packets),
                static_cast<unsigned long long>(s.denied[d].bytes));
  }
  std::printf("  denial events: %llu sent, %llu suppressed by the rate limit, %llu lost\n",
              static_cast<unsigned long long>(s.events_sent),
              static_cast<unsigned long long>(s.events_suppressed),
              static_cast<unsigned long long>(s.events_lost));
}

absl::Status Run(const Options& opt) {
  GK_ASSIGN_OR_RETURN(UniqueFd server_ns, OpenNetns(opt.server_netns));
  GK_ASSIGN_OR_RETURN(UniqueFd client_ns, OpenNetns(opt.client_netns));

  policy::AccessLists lists;
  GK_RETURN_IF_ERROR(
      lists.deny.Assign(kDeny, {.file = kGateFile, .line = kDenyLine, .key = "IPAddressDeny"}));
  GK_RETURN_IF_ERROR(
      lists.allow.Assign(kAllow, {.file = kGateFile, .line = kAllowLine, .key = "IPAddressAllow"}));
  const policy::CompiledPolicy policy = policy::Compile(lists);

  std::printf("The embedded gate (%s):\n\n%s\n", kGateFile, kGateText);

  kernel::LiveKernelProbe probe;
  GK_ASSIGN_OR_RETURN(std::unique_ptr<kernel::Engine> engine,
                      kernel::Engine::Open({.bpffs_dir = opt.bpffs_dir}, probe));
  // The demo leaves nothing behind, however it ends.
  auto cleanup = absl::MakeCleanup([&] {
    (void)engine->RemoveAll();
    (void)kernel::RemoveCgroupTree(opt.cgroup_base);
  });

  kernel::ScopeSpec spec;
  spec.name = "demo.socket";
  spec.id = 1;
  spec.cgroup_path = absl::StrCat(opt.cgroup_base, "/gates/demo.socket");
  GK_ASSIGN_OR_RETURN(kernel::Scope * scope, engine->AttachScope(spec, policy));
  GK_ASSIGN_OR_RETURN(kernel::Cgroup gate_cgroup, kernel::Cgroup::Open(spec.cgroup_path));
  GK_ASSIGN_OR_RETURN(kernel::Cgroup client_cgroup,
                      kernel::Cgroup::CreateOrOpen(absl::StrCat(opt.cgroup_base, "/clients")));
  std::printf("Filter attached to cgroup %s (pins in %s)\n", spec.cgroup_path.c_str(),
              engine->pin_dir().c_str());

  kernel::SocketRequest listen_req;
  listen_req.family = AF_INET;
  listen_req.type = SOCK_STREAM | SOCK_NONBLOCK;
  GK_ASSIGN_OR_RETURN(listen_req.bind, SocketAddress::Parse(kServer, kPort));
  listen_req.backlog = 16;
  GK_ASSIGN_OR_RETURN(UniqueFd listener,
                      kernel::CreateSocketInCgroup(gate_cgroup.fd(), server_ns.get(), listen_req));
  std::printf("Listening on %s:%u in namespace %s, socket made inside the gate's cgroup\n\n",
              kServer, kPort, opt.server_netns.c_str());

  std::vector<kernel::DenialEvent> events;
  GK_ASSIGN_OR_RETURN(
      kernel::DenialEventReader reader,
      kernel::DenialEventReader::Create(
          engine->events_fd(), [&](const kernel::DenialEvent& e) { events.push_back(e); }));

  // Allowed client: the server accepts and greets it.
  GK_ASSIGN_OR_RETURN(UniqueFd good, ClientSocket(client_cgroup, client_ns.get(), kAllowedClient));
  auto server = SocketAddress::Parse(kServer, kPort);
  (void)::connect(good.get(), server->get(), server->length);
  pollfd lp{listener.get(), POLLIN, 0};
  if (::poll(&lp, 1, 5000) == 1) {
    UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    const char hello[] = "hello from behind the gate\n";
    if (conn) (void)!::send(conn.get(), hello, sizeof(hello) - 1, MSG_NOSIGNAL);
  }
  std::string reply;
  const bool good_ok = TryConnect(good.get(), 5000, &reply);
  std::printf("client %-10s -> %s:%u  %s%s", kAllowedClient, kServer, kPort,
              good_ok ? "ALLOWED, server says: " : "FAILED (expected to be allowed)\n",
              good_ok ? reply.c_str() : "");

  // Denied client: its SYN is dropped in the kernel; the connect cannot complete.
  GK_ASSIGN_OR_RETURN(UniqueFd bad, ClientSocket(client_cgroup, client_ns.get(), kDeniedClient));
  const bool bad_connected = TryConnect(bad.get(), 1500, &reply);
  std::printf("client %-10s -> %s:%u  %s\n", kDeniedClient, kServer, kPort,
              bad_connected ? "CONNECTED (expected to be denied!)"
                            : "DENIED: no answer to its SYN within 1.5 s");

  pollfd ep{reader.epoll_fd(), POLLIN, 0};
  (void)::poll(&ep, 1, 1000);
  GK_RETURN_IF_ERROR(reader.Drain().status());
  std::printf("\nDenial events from the kernel's ring buffer:\n");
  for (const kernel::DenialEvent& e : events) {
    const policy::Rule* rule = policy.FindRule(e.rule_id);
    const std::string decided =
        rule ? absl::StrCat(rule->entry.origin.ToString(), rule->entry.token) : "(no rule)";
    std::printf("  %s %s:%u -> local port %u, decided by %s\n",
                e.direction == kernel::Direction::kIngress ? "ingress" : "egress",
                e.remote.ToString().c_str(), e.remote_port, e.local_port, decided.c_str());
  }
  GK_ASSIGN_OR_RETURN(kernel::ScopeStats stats, scope->ReadStats());
  std::printf("\nCounters of scope %s:", spec.name.c_str());
  PrintStats(stats);

  if (!good_ok || bad_connected || events.empty()) {
    return absl::InternalError("the demo did not behave as expected (see above)");
  }
  std::printf("\nCleaning up: filters detached, pins and cgroups removed.\n");
  return absl::OkStatus();
}

}  // namespace
}  // namespace gatekeeper::demo

int main(int argc, char** argv) {
  gatekeeper::demo::Options opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--server-netns")
      opt.server_netns = value;
    else if (flag == "--client-netns")
      opt.client_netns = value;
    else if (flag == "--cgroup-base")
      opt.cgroup_base = value;
    else if (flag == "--bpffs-dir")
      opt.bpffs_dir = value;
    else {
      std::fprintf(stderr, "gatekeeper-demo: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (opt.server_netns.empty() || opt.client_netns.empty() || opt.cgroup_base.empty() ||
      opt.bpffs_dir.empty()) {
    std::fprintf(stderr,
                 "usage: gatekeeper-demo --server-netns NS --client-netns NS --cgroup-base PATH "
                 "--bpffs-dir DIR\n(scripts/demo sets these up)\n");
    return 2;
  }
  const absl::Status status = gatekeeper::demo::Run(opt);
  if (!status.ok()) {
    std::fprintf(stderr, "gatekeeper-demo: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
