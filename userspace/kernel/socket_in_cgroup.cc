#include "kernel/socket_in_cgroup.h"

#include <linux/sched.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace gatekeeper::kernel {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;

enum Stage : int { kOk = 0, kSetns, kSocket, kSockopt, kBindToDevice, kBind, kListen, kSend };

const char* StageName(int stage) {
  switch (stage) {
    case kSetns:
      return "enter the network namespace";
    case kSocket:
      return "create the socket";
    case kSockopt:
      return "set socket options";
    case kBindToDevice:
      return "bind to the device (SO_BINDTODEVICE)";
    case kBind:
      return "bind";
    case kListen:
      return "listen";
    case kSend:
      return "pass the socket back";
    default:
      return "unknown step";
  }
}

struct Report {
  int stage;
  int err;
};

// What travels on the helper's channel: a Report, with the socket attached on success. Built on
// the stack in both processes (no allocation: the helper may only make async-signal-safe calls).
struct ChannelMessage {
  Report report{kSend, EPIPE};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{&report, sizeof(report)};
  msghdr msg{};

  ChannelMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
  }
  ChannelMessage(const ChannelMessage&) = delete;
  ChannelMessage& operator=(const ChannelMessage&) = delete;
};

// Runs in the helper: async-signal-safe calls only, then _exit.
[[noreturn]] void HelperMain(int channel, int netns_fd, const SocketRequest& req) {
  Report report{kOk, 0};
  int fd = -1;
  auto fail = [&](Stage stage) {
    report = {stage, errno};
    ::send(channel, &report, sizeof(report), MSG_NOSIGNAL);
    ::_exit(1);
  };
  if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) fail(kSetns);
  fd = ::socket(req.family, req.type | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(kSocket);
  const int one = 1;
  if (req.reuse_addr && req.family != AF_UNIX &&
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    fail(kSockopt);
  }
  if (req.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    fail(kSockopt);
  }
  if (req.free_bind && req.family != AF_UNIX &&
      ::setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) != 0) {
    fail(kSockopt);
  }
  if (req.family == AF_INET6 && req.v6only >= 0 &&
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &req.v6only, sizeof(req.v6only)) != 0) {
    fail(kSockopt);
  }
  if (!req.bind_to_device.empty() &&
      ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, req.bind_to_device.data(),
                   req.bind_to_device.size()) != 0) {
    fail(kBindToDevice);
  }
  if (req.bind && ::bind(fd, req.bind->get(), req.bind->length) != 0) fail(kBind);
  if (req.backlog > 0 && ::listen(fd, req.backlog) != 0) fail(kListen);

  ChannelMessage m;
  m.report = report;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&m.msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  if (::sendmsg(channel, &m.msg, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(report))) {
    fail(kSend);
  }
  ::_exit(0);
}

}  // namespace

absl::StatusOr<UniqueFd> CreateSocketInCgroup(int cgroup_fd, int netns_fd,
                                              const SocketRequest& request) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return ErrnoStatus(errno, "socketpair for the socket helper");
  }
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);

  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<__u64>(cgroup_fd);
  // glibc 2.36 has no clone3 wrapper; without a stack the child continues like after fork().
  const long pid = ::syscall(SYS_clone3, &args, sizeof(args));
  if (pid < 0) return ErrnoStatus(errno, "start the socket helper in the cgroup (clone3)");
  if (pid == 0) HelperMain(theirs.get(), netns_fd, request);
  theirs.reset();

  ChannelMessage m;
  Report& report = m.report;
  msghdr& msg = m.msg;
  ssize_t n;
  do {
    n = ::recvmsg(ours.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  const int recv_errno = errno;

  UniqueFd received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
      received.reset(fd);
    }
  }
  int status = 0;
  while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
  }
  if (n < 0) return ErrnoStatus(recv_errno, "receive the socket from the helper");
  if (n != sizeof(report) || report.stage != kOk || !received) {
    if (n != sizeof(report)) report = {kSend, EPIPE};
    return ErrnoStatus(report.err, absl::StrCat("socket helper: ", StageName(report.stage)));
  }
  return received;
}

}  // namespace gatekeeper::kernel
