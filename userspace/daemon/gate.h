// One gate's listeners and device binding: waits for its device and addresses, creates the
// listeners once, re-applies SO_BINDTODEVICE to the same fds whenever the device comes back, and
// keeps the gate's BPF device binding in step. Never blocks; driven by Reconcile() calls.
#ifndef GATEKEEPER_DAEMON_GATE_H_
#define GATEKEEPER_DAEMON_GATE_H_

#include <functional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "config/listen_spec.h"
#include "daemon/gate_status.h"
#include "daemon/gate_system.h"

namespace gatekeeper::daemon {

struct GateSpec {
  std::string name;
  std::vector<config::ListenSpec> listens;
  ListenerOptions options;
  std::string socket_cgroup;  // where listeners are made
  std::string socket_scope;   // engine scope name of the socket cgroup
};

class Gate {
 public:
  using Logger = std::function<void(const std::string&)>;

  Gate(GateSpec spec, GateSystem& system, Logger log);

  // Looks at the links and moves the gate along: waiting-device → waiting-address → listening,
  // and back to waiting-device (keeping its listeners) when the device goes away. Returns true
  // when the listeners became usable in this call (the service may start now).
  bool Reconcile();

  GateState state() const { return state_; }
  const std::string& reason() const { return reason_; }
  int ifindex() const { return ifindex_; }
  const GateSpec& spec() const { return spec_; }
  // The listeners in ListenStream/ListenDatagram order; empty until first created.
  const std::vector<common::UniqueFd>& listeners() const { return listeners_; }
  void Fail(std::string reason);

 private:
  bool DeviceReady();
  bool AddressesReady();
  bool EnsureListeners();

  GateSpec spec_;
  GateSystem& system_;
  Logger log_;
  GateState state_ = GateState::kWaitingDevice;
  std::string reason_;
  int ifindex_ = 0;  // the device's ifindex the listeners are bound to; 0 while away
  std::vector<common::UniqueFd> listeners_;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_GATE_H_
