// GateSystem on the real kernel: links from the LinkWatcher, listeners made inside the gate's
// cgroup by the socket helper, device binding through the engine's scopes.
#ifndef GATEKEEPER_DAEMON_KERNEL_GATE_SYSTEM_H_
#define GATEKEEPER_DAEMON_KERNEL_GATE_SYSTEM_H_

#include "daemon/gate_system.h"
#include "kernel/engine.h"
#include "net/link_watcher.h"

namespace gatekeeper::daemon {

class KernelGateSystem : public GateSystem {
 public:
  KernelGateSystem(net::LinkWatcher& links, kernel::Engine& engine)
      : links_(links), engine_(engine) {}

  std::optional<net::Link> FindLink(const std::string& name) const override;
  bool HasAddress(const std::string& device, const policy::Address& address) const override;
  absl::StatusOr<common::UniqueFd> CreateListener(const std::string& cgroup_path,
                                                  const config::ListenSpec& listen,
                                                  const ListenerOptions& options) override;
  absl::Status BindToDevice(int fd, const std::string& device) override;
  absl::Status SetBoundDevice(const std::string& scope, uint32_t ifindex) override;

 private:
  net::LinkWatcher& links_;
  kernel::Engine& engine_;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_KERNEL_GATE_SYSTEM_H_
