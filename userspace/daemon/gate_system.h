// What a gate needs from the kernel and the links, behind one narrow interface: the daemon passes
// the real thing, the gate's unit tests a fake.
#ifndef GATEKEEPER_DAEMON_GATE_SYSTEM_H_
#define GATEKEEPER_DAEMON_GATE_SYSTEM_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "config/listen_spec.h"
#include "net/link_state.h"
#include "policy/address.h"

namespace gatekeeper::daemon {

// Socket options of a gate that apply to each of its listeners.
struct ListenerOptions {
  std::string device;  // SO_BINDTODEVICE before bind; empty: none
  int backlog = 4096;
  bool reuse_port = false;
  bool free_bind = false;
  int v6only = -1;  // IPV6_V6ONLY for [::] listeners: -1 kernel default, 0 both, 1 IPv6 only
  uid_t socket_user = static_cast<uid_t>(-1);  // unix sockets: owner and mode of the file
  gid_t socket_group = static_cast<gid_t>(-1);
  mode_t socket_mode = 0666;
};

class GateSystem {
 public:
  virtual ~GateSystem() = default;
  virtual std::optional<net::Link> FindLink(const std::string& name) const = 0;
  // On `device`, or on any link when `device` is empty.
  virtual bool HasAddress(const std::string& device, const policy::Address& address) const = 0;
  // A listener made inside `cgroup_path` (so its connections carry the gate's filter).
  virtual absl::StatusOr<common::UniqueFd> CreateListener(const std::string& cgroup_path,
                                                          const config::ListenSpec& listen,
                                                          const ListenerOptions& options) = 0;
  // SO_BINDTODEVICE again on an existing listener (the device was re-created).
  virtual absl::Status BindToDevice(int fd, const std::string& device) = 0;
  // The ifindex the gate's ingress program accepts; 0 means "device away": nothing gets in.
  virtual absl::Status SetBoundDevice(const std::string& scope, uint32_t ifindex) = 0;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_GATE_SYSTEM_H_
