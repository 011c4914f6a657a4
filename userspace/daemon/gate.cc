#include "daemon/gate.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gatekeeper::daemon {

Gate::Gate(GateSpec spec, GateSystem& system, Logger log)
    : spec_(std::move(spec)), system_(system), log_(std::move(log)) {}

void Gate::Fail(std::string reason) {
  state_ = GateState::kFailed;
  reason_ = std::move(reason);
  log_(absl::StrCat("<3>gate ", spec_.name, " failed: ", reason_));
}

bool Gate::DeviceReady() {
  const std::string& device = spec_.options.device;
  if (device.empty()) return true;
  const std::optional<net::Link> link = system_.FindLink(device);
  if (!link || !link->admin_up()) {
    if (admitted_ifindex_ != 0 || state_ != GateState::kWaitingDevice) {
      log_(absl::StrCat("<5>gate ", spec_.name, ": device ", device, link ? " is down" : " is gone",
                        "; waiting for it (listeners kept)"));
    }
    CloseFilter();
    state_ = GateState::kWaitingDevice;
    reason_ = absl::StrCat("device ", device, link ? " is down" : " does not exist");
    // A re-created device usually shows up down and is set up a moment later. Binding the
    // listeners to it now (the filter still admits nothing) means a client's first SYN after it
    // comes up meets the gate's filter, which drops it until we admit the device (the client
    // retransmits), instead of no socket at all (a reset: "connection refused").
    if (link) RebindListeners(*link);  // fails the gate if it cannot
    return false;
  }
  if (!RebindListeners(*link)) return false;
  if (link->ifindex == admitted_ifindex_) return true;
  // The listeners are bound to this ifindex (above): now let its packets in.
  if (absl::Status s = system_.SetBoundDevice(spec_.socket_scope, link->ifindex); !s.ok()) {
    Fail(std::string(s.message()));
    return false;
  }
  admitted_ifindex_ = link->ifindex;
  return true;
}

void Gate::CloseFilter() {
  // Nothing may come in while the device is away: a new device that reuses the old ifindex must
  // not reach a socket still bound to that number.
  if (admitted_ifindex_ == 0) return;
  if (absl::Status s = system_.SetBoundDevice(spec_.socket_scope, 0); !s.ok()) {
    log_(absl::StrCat("<3>gate ", spec_.name, ": ", s.message()));
  }
  admitted_ifindex_ = 0;
}

bool Gate::RebindListeners(const net::Link& link) {
  if (link.ifindex == listeners_ifindex_) return true;
  // The device appeared, or was re-created under a new ifindex: bind the same listeners to it
  // again (never to "no device": that would unbind them, i.e. fail open).
  for (const common::UniqueFd& fd : listeners_) {
    if (absl::Status s = system_.BindToDevice(fd.get(), spec_.options.device); !s.ok()) {
      if (absl::IsNotFound(s)) {
        // ENODEV: the device went away again after the link snapshot, and its removal event is on
        // its way. That is a flap, not a failure: wait for it as for a device that is gone (the
        // filter admits nothing; listeners_ifindex_ stays, so all are bound again next time).
        CloseFilter();
        state_ = GateState::kWaitingDevice;
        reason_ = absl::StrCat("device ", spec_.options.device, " does not exist");
        return false;
      }
      Fail(std::string(s.message()));
      return false;
    }
  }
  if (!listeners_.empty()) {
    log_(absl::StrCat("<5>gate ", spec_.name, ": device ", spec_.options.device,
                      " is back (ifindex ", link.ifindex, link.admin_up() ? "" : ", still down",
                      "); listeners bound to it again"));
  }
  listeners_ifindex_ = link.ifindex;
  return true;
}

bool Gate::AddressesReady() {
  for (const config::ListenSpec& l : spec_.listens) {
    if (l.kind != config::ListenSpec::Kind::kInet || spec_.options.free_bind) continue;
    if (!system_.HasAddress(spec_.options.device, *l.address)) {
      state_ = GateState::kWaitingAddress;
      reason_ = absl::StrCat("address ", l.address->ToString(), " is not present",
                             spec_.options.device.empty() ? "" : " on ", spec_.options.device);
      return false;
    }
  }
  return true;
}

bool Gate::EnsureListeners() {
  if (!listeners_.empty()) return true;
  std::vector<common::UniqueFd> made;
  for (const config::ListenSpec& l : spec_.listens) {
    absl::StatusOr<common::UniqueFd> fd =
        system_.CreateListener(spec_.socket_cgroup, l, spec_.options);
    if (!fd.ok()) {
      Fail(absl::StrCat(std::string(l.KeyName()), "=", l.ToString(), ": ", fd.status().message()));
      return false;
    }
    made.push_back(*std::move(fd));
  }
  listeners_ = std::move(made);
  return true;
}

bool Gate::Reconcile() {
  if (state_ == GateState::kFailed) return false;
  const bool was_listening = state_ == GateState::kListening;
  if (!DeviceReady() || !AddressesReady() || !EnsureListeners()) return false;
  state_ = GateState::kListening;
  reason_.clear();
  if (!was_listening) {
    std::string where;
    for (const config::ListenSpec& l : spec_.listens) absl::StrAppend(&where, " ", l.ToString());
    log_(absl::StrCat("<6>gate ", spec_.name, ": listening on", where,
                      spec_.options.device.empty() ? "" : " via ", spec_.options.device));
  }
  return !was_listening;
}

}  // namespace gatekeeper::daemon
