#include "daemon/kernel_gate_system.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "kernel/cgroup.h"
#include "kernel/socket_in_cgroup.h"

namespace gatekeeper::daemon {

using common::ErrnoStatus;
using common::SocketAddress;

std::optional<net::Link> KernelGateSystem::FindLink(const std::string& name) const {
  return links_.FindLink(name);
}

bool KernelGateSystem::HasAddress(const std::string& device, const policy::Address& address) const {
  if (!device.empty()) return links_.HasAddress(device, address);
  for (const net::Link& link : links_.Links()) {
    if (links_.HasAddress(link.name, address)) return true;
  }
  return false;
}

absl::StatusOr<common::UniqueFd> KernelGateSystem::CreateListener(const std::string& cgroup_path,
                                                                  const config::ListenSpec& listen,
                                                                  const ListenerOptions& options) {
  kernel::SocketRequest req;
  req.type = listen.type == config::ListenSpec::Type::kStream ? SOCK_STREAM : SOCK_DGRAM;
  req.bind_to_device = options.device;
  req.reuse_port = options.reuse_port;
  req.free_bind = options.free_bind;
  switch (listen.kind) {
    case config::ListenSpec::Kind::kAnyAddress: {
      GK_ASSIGN_OR_RETURN(req.bind, SocketAddress::Parse("::", listen.port));
      req.v6only = options.v6only;
      break;
    }
    case config::ListenSpec::Kind::kInet: {
      GK_ASSIGN_OR_RETURN(req.bind, SocketAddress::Parse(listen.address->ToString(), listen.port));
      break;
    }
    case config::ListenSpec::Kind::kUnix: {
      GK_ASSIGN_OR_RETURN(req.bind, SocketAddress::Unix(listen.path));
      // As systemd: a socket file left by an earlier run is replaced.
      struct stat st {};
      if (::lstat(listen.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        ::unlink(listen.path.c_str());
      }
      break;
    }
  }
  req.family = req.bind->family();
  if (req.type == SOCK_STREAM) req.backlog = options.backlog;
  GK_ASSIGN_OR_RETURN(kernel::Cgroup cgroup, kernel::Cgroup::Open(cgroup_path));
  GK_ASSIGN_OR_RETURN(common::UniqueFd fd, kernel::CreateSocketInCgroup(cgroup.fd(), -1, req));
  if (listen.kind == config::ListenSpec::Kind::kUnix) {
    if (::chown(listen.path.c_str(), options.socket_user, options.socket_group) != 0) {
      return ErrnoStatus(errno, absl::StrCat("chown ", listen.path));
    }
    if (::chmod(listen.path.c_str(), options.socket_mode) != 0) {
      return ErrnoStatus(errno, absl::StrCat("chmod ", listen.path));
    }
  }
  return fd;
}

absl::Status KernelGateSystem::BindToDevice(int fd, const std::string& device) {
  if (device.empty()) {
    // Setting an empty device unbinds the socket: it would then accept from every interface.
    return absl::InternalError("refusing to unbind a listener from its device");
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device.data(), device.size()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bind listener to device ", device));
  }
  return absl::OkStatus();
}

absl::Status KernelGateSystem::SetBoundDevice(const std::string& scope, uint32_t ifindex) {
  kernel::Scope* s = engine_.FindScope(scope);
  if (s == nullptr) return absl::NotFoundError(absl::StrCat("no scope ", scope));
  return s->SetBoundDevice(ifindex);
}

}  // namespace gatekeeper::daemon
