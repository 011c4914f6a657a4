// One gate's listeners and device binding: waits for its device and addresses, creates the
// listeners once, re-applies SO_BINDTODEVICE to the same fds as soon as the device exists under a
// new ifindex (even while it is still down), and lets the device's packets in through the gate's
// BPF program only while it is up. Never blocks; driven by Reconcile() calls.
#ifndef GATEKEEPER_DAEMON_GATE_H_
#define GATEKEEPER_DAEMON_GATE_H_

#include <functional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "config/listen_spec.h"
#include "daemon/gate_status.h"
#include "daemon/gate_system.h"
#include "net/link_state.h"

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
  // The ifindex the gate's BPF program admits: the device's while it is up, 0 while it is down or
  // away.
  int ifindex() const { return admitted_ifindex_; }
  const GateSpec& spec() const { return spec_; }
  // The listeners in ListenStream/ListenDatagram order; empty until first created.
  const std::vector<common::UniqueFd>& listeners() const { return listeners_; }
  void Fail(std::string reason);

 private:
  bool DeviceReady();
  // SO_BINDTODEVICE again on every listener if `link` is not the ifindex they are bound to.
  // False (and the gate failed) when that fails.
  bool RebindListeners(const net::Link& link);
  void CloseFilter();  // admits nothing (ifindex 0) until the device is back and up
  bool AddressesReady();
  bool EnsureListeners();

  GateSpec spec_;
  GateSystem& system_;
  Logger log_;
  GateState state_ = GateState::kWaitingDevice;
  std::string reason_;
  // Kept apart: the listeners follow a re-created device at once, its packets get in only once it
  // is up. Between Reconcile() calls (unless failed), admitted_ifindex_ is 0 or listeners_ifindex_.
  int admitted_ifindex_ = 0;   // what the BPF program admits (SetBoundDevice); 0 while down/away
  int listeners_ifindex_ = 0;  // what the listeners are bound to; kept while the device is away
  std::vector<common::UniqueFd> listeners_;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_GATE_H_
