#include "daemon/gate.h"

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
    if (ifindex_ != 0 || state_ != GateState::kWaitingDevice) {
      log_(absl::StrCat("<5>gate ", spec_.name, ": device ", device, link ? " is down" : " is gone",
                        "; waiting for it (listeners kept)"));
    }
    // Nothing may come in while the device is away: a new device that reuses the old ifindex
    // must not reach a socket still bound to that number.
    if (ifindex_ != 0) {
      if (absl::Status s = system_.SetBoundDevice(spec_.socket_scope, 0); !s.ok()) {
        log_(absl::StrCat("<3>gate ", spec_.name, ": ", s.message()));
      }
      ifindex_ = 0;
    }
    state_ = GateState::kWaitingDevice;
    reason_ = absl::StrCat("device ", device, link ? " is down" : " does not exist");
    return false;
  }
  if (link->ifindex == ifindex_) return true;

  // The device appeared, or was re-created under a new ifindex: bind the same listeners to it
  // again (never to "no device": that would unbind them, i.e. fail open), then let its packets in.
  for (const common::UniqueFd& fd : listeners_) {
    if (absl::Status s = system_.BindToDevice(fd.get(), device); !s.ok()) {
      Fail(std::string(s.message()));
      return false;
    }
  }
  if (absl::Status s = system_.SetBoundDevice(spec_.socket_scope, link->ifindex); !s.ok()) {
    Fail(std::string(s.message()));
    return false;
  }
  if (!listeners_.empty()) {
    log_(absl::StrCat("<5>gate ", spec_.name, ": device ", device, " is back (ifindex ",
                      link->ifindex, "); listeners bound to it again"));
  }
  ifindex_ = link->ifindex;
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
