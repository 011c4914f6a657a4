// The gate's device logic against a fake kernel: waiting, binding once, re-binding the same
// listener to a re-created device (at once, even while it is down), never unbinding, and the BPF
// device binding kept in step (admitting the device only while it is up).
#include "daemon/gate.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class FakeSystem : public GateSystem {
 public:
  std::map<std::string, net::Link> links;
  std::vector<std::pair<std::string, policy::Address>> addresses;  // device, address
  int next_fd = 100;
  std::vector<std::string> calls;  // what the gate asked for, in order
  absl::Status listener_error = absl::OkStatus();
  absl::Status bind_error = absl::OkStatus();

  void AddLink(const std::string& name, int ifindex, bool up = true) {
    links[name] = net::Link{.name = name, .ifindex = ifindex, .flags = up ? 1u : 0u};
  }

  std::optional<net::Link> FindLink(const std::string& name) const override {
    auto it = links.find(name);
    if (it == links.end()) return std::nullopt;
    return it->second;
  }
  bool HasAddress(const std::string& device, const policy::Address& a) const override {
    for (const auto& [d, addr] : addresses) {
      if ((device.empty() || d == device) && addr == a) return true;
    }
    return false;
  }
  absl::StatusOr<common::UniqueFd> CreateListener(const std::string& cgroup,
                                                  const config::ListenSpec& l,
                                                  const ListenerOptions& o) override {
    if (!listener_error.ok()) return listener_error;
    calls.push_back("create " + l.ToString() + " in " + cgroup + " dev=" + o.device);
    // A real, closable fd so the gate's UniqueFd has something to own.
    return common::UniqueFd(::dup(0));
  }
  absl::Status BindToDevice(int, const std::string& device) override {
    calls.push_back("bind " + device);
    return bind_error;
  }
  absl::Status SetBoundDevice(const std::string& scope, uint32_t ifindex) override {
    calls.push_back("bpf " + scope + " " + std::to_string(ifindex));
    return absl::OkStatus();
  }
};

config::ListenSpec Listen(const std::string& text) {
  auto l = config::ParseListenSpec(config::ListenSpec::Type::kStream, text);
  EXPECT_TRUE(l.ok()) << l.status();
  return *l;
}

class GateTest : public ::testing::Test {
 protected:
  Gate MakeGate(std::vector<config::ListenSpec> listens, const std::string& device) {
    GateSpec spec{.name = "web",
                  .listens = std::move(listens),
                  .options = {.device = device},
                  .socket_cgroup = "/cg/web.socket",
                  .socket_scope = "web.socket"};
    return Gate(std::move(spec), sys_, [this](const std::string& l) { log_.push_back(l); });
  }
  FakeSystem sys_;
  std::vector<std::string> log_;
};

TEST_F(GateTest, WaitsForTheDeviceThenBindsOnce) {
  Gate gate = MakeGate({Listen("8443")}, "wg0");
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kWaitingDevice);
  EXPECT_THAT(gate.reason(), HasSubstr("wg0 does not exist"));
  EXPECT_TRUE(sys_.calls.empty());

  sys_.AddLink("wg0", 7, /*up=*/false);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_THAT(gate.reason(), HasSubstr("is down"));

  sys_.AddLink("wg0", 7);
  EXPECT_TRUE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kListening);
  EXPECT_EQ(gate.ifindex(), 7);
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 7", "create 8443 in /cg/web.socket dev=wg0"));
  EXPECT_EQ(gate.listeners().size(), 1u);

  // Nothing changes: nothing is done again.
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(sys_.calls.size(), 2u);
}

TEST_F(GateTest, DeviceRecreatedRebindsTheSameListenerAndNeverUnbinds) {
  Gate gate = MakeGate({Listen("8443"), Listen("[2001:db8::1]:53")}, "wg0");
  sys_.AddLink("wg0", 7);
  sys_.addresses.push_back({"wg0", *policy::Address::Parse("2001:db8::1")});
  ASSERT_TRUE(gate.Reconcile());
  const int fd0 = gate.listeners()[0].get();
  const int fd1 = gate.listeners()[1].get();
  sys_.calls.clear();

  sys_.links.erase("wg0");
  sys_.addresses.clear();
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kWaitingDevice);
  EXPECT_EQ(gate.ifindex(), 0);
  // Away: the BPF binding admits nothing; the sockets are left alone (no "bind " with no device).
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 0"));
  ASSERT_EQ(gate.listeners().size(), 2u);
  sys_.calls.clear();

  sys_.AddLink("wg0", 12);  // re-created: new ifindex, address not back yet
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kWaitingAddress);
  EXPECT_THAT(sys_.calls, ElementsAre("bind wg0", "bind wg0", "bpf web.socket 12"));
  sys_.calls.clear();

  sys_.addresses.push_back({"wg0", *policy::Address::Parse("2001:db8::1")});
  EXPECT_TRUE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kListening);
  EXPECT_TRUE(sys_.calls.empty());  // no new listener: the same fds serve on
  EXPECT_EQ(gate.listeners()[0].get(), fd0);
  EXPECT_EQ(gate.listeners()[1].get(), fd1);
  for (const std::string& line : log_) EXPECT_THAT(line, ::testing::Not(HasSubstr("failed")));
}

int CountContaining(const std::vector<std::string>& lines, const std::string& part) {
  int n = 0;
  for (const std::string& line : lines) n += line.find(part) != std::string::npos ? 1 : 0;
  return n;
}

// A re-created device usually appears down and is set up a moment later. The listeners are bound
// to it at once, so that a SYN arriving the moment it is up meets the gate's filter (dropped, the
// client retransmits) rather than no socket (a reset); but nothing gets in before it is up.
TEST_F(GateTest, DeviceRecreatedDownIsBoundAtOnceButAdmittedOnlyWhenUp) {
  Gate gate = MakeGate({Listen("8443"), Listen("9000")}, "wg0");
  sys_.AddLink("wg0", 7);
  ASSERT_TRUE(gate.Reconcile());
  sys_.calls.clear();

  sys_.links.erase("wg0");
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 0"));
  sys_.calls.clear();

  sys_.AddLink("wg0", 12, /*up=*/false);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kWaitingDevice);
  EXPECT_THAT(gate.reason(), HasSubstr("wg0 is down"));
  EXPECT_EQ(gate.ifindex(), 0);
  // Bound to the new device; the BPF binding is not touched: it still admits nothing.
  EXPECT_THAT(sys_.calls, ElementsAre("bind wg0", "bind wg0"));
  EXPECT_EQ(CountContaining(log_, "is back (ifindex 12, still down); listeners bound to it again"),
            1);
  sys_.calls.clear();

  // Still down: nothing more is done.
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_THAT(sys_.calls, IsEmpty());
  EXPECT_EQ(gate.ifindex(), 0);

  // Up: only now are its packets let in, and the listeners are not bound again.
  sys_.AddLink("wg0", 12);
  EXPECT_TRUE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kListening);
  EXPECT_EQ(gate.ifindex(), 12);
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 12"));
  EXPECT_EQ(CountContaining(log_, "is back"), 1);
  EXPECT_EQ(CountContaining(log_, "failed"), 0);
}

// Seen in one step: the device that was up is now another one, down. The filter is closed before
// the listeners move to the new device.
TEST_F(GateTest, DeviceReplacedByADownOneClosesTheFilterBeforeRebinding) {
  Gate gate = MakeGate({Listen("8443")}, "wg0");
  sys_.AddLink("wg0", 7);
  ASSERT_TRUE(gate.Reconcile());
  sys_.calls.clear();

  sys_.AddLink("wg0", 12, /*up=*/false);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kWaitingDevice);
  EXPECT_EQ(gate.ifindex(), 0);
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 0", "bind wg0"));
  sys_.calls.clear();

  sys_.AddLink("wg0", 12);
  EXPECT_TRUE(gate.Reconcile());
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 12"));
}

// Down and up again under the same ifindex: the listeners are still bound to it, only the filter
// opens and closes.
TEST_F(GateTest, DeviceDownAndUpAgainDoesNotRebind) {
  Gate gate = MakeGate({Listen("8443")}, "wg0");
  sys_.AddLink("wg0", 7);
  ASSERT_TRUE(gate.Reconcile());
  sys_.calls.clear();

  sys_.AddLink("wg0", 7, /*up=*/false);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kWaitingDevice);
  EXPECT_EQ(gate.ifindex(), 0);
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 0"));
  sys_.calls.clear();

  sys_.AddLink("wg0", 7);
  EXPECT_TRUE(gate.Reconcile());
  EXPECT_EQ(gate.ifindex(), 7);
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 7"));
  EXPECT_EQ(CountContaining(log_, "is back"), 0);
  EXPECT_EQ(CountContaining(log_, "is down; waiting for it"), 1);
}

// Re-created, deleted again before it came up, re-created again: the listeners follow each new
// ifindex (one bind and one log line each), the filter admits nothing until the last one is up.
TEST_F(GateTest, DeviceRecreatedAndGoneAgainBeforeUpNeverAdmits) {
  Gate gate = MakeGate({Listen("8443")}, "wg0");
  sys_.AddLink("wg0", 7);
  ASSERT_TRUE(gate.Reconcile());
  sys_.links.erase("wg0");
  EXPECT_FALSE(gate.Reconcile());
  sys_.calls.clear();

  sys_.AddLink("wg0", 12, /*up=*/false);
  EXPECT_FALSE(gate.Reconcile());
  sys_.links.erase("wg0");
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kWaitingDevice);
  EXPECT_THAT(gate.reason(), HasSubstr("does not exist"));
  EXPECT_THAT(sys_.calls, ElementsAre("bind wg0"));  // no "bind" to no device, no "bpf"
  sys_.calls.clear();

  // Back under the ifindex the listeners are bound to already: nothing to do while down.
  sys_.AddLink("wg0", 12, /*up=*/false);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_THAT(sys_.calls, IsEmpty());
  sys_.links.erase("wg0");
  EXPECT_FALSE(gate.Reconcile());

  sys_.AddLink("wg0", 13, /*up=*/false);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.ifindex(), 0);
  EXPECT_THAT(sys_.calls, ElementsAre("bind wg0"));
  sys_.calls.clear();

  sys_.AddLink("wg0", 13);
  EXPECT_TRUE(gate.Reconcile());
  EXPECT_EQ(gate.ifindex(), 13);
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 13"));
  EXPECT_EQ(CountContaining(log_, "is back"), 2);  // ifindex 12, then 13
}

// The device is first seen down, before any listener exists: nothing to bind, and the listeners
// are made (bound by name) once it is up.
TEST_F(GateTest, DeviceFirstSeenDownBindsNothingUntilUp) {
  Gate gate = MakeGate({Listen("8443")}, "wg0");
  sys_.AddLink("wg0", 7, /*up=*/false);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_THAT(sys_.calls, IsEmpty());
  sys_.AddLink("wg0", 7);
  EXPECT_TRUE(gate.Reconcile());
  EXPECT_THAT(sys_.calls, ElementsAre("bpf web.socket 7", "create 8443 in /cg/web.socket dev=wg0"));
  EXPECT_EQ(CountContaining(log_, "is back"), 0);
}

// The re-created device vanishes again between the link snapshot and the bind (ENODEV): a flap,
// not a failure. The gate keeps waiting with its filter closed and binds when the device is back.
TEST_F(GateTest, DeviceGoneAgainDuringTheRebindKeepsWaiting) {
  Gate gate = MakeGate({Listen("8443")}, "wg0");
  sys_.AddLink("wg0", 7);
  ASSERT_TRUE(gate.Reconcile());
  sys_.links.erase("wg0");
  EXPECT_FALSE(gate.Reconcile());
  sys_.calls.clear();

  sys_.bind_error = absl::NotFoundError("bind listener to device wg0: No such device");
  sys_.AddLink("wg0", 12);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kWaitingDevice);
  EXPECT_EQ(gate.ifindex(), 0);
  EXPECT_THAT(sys_.calls, ElementsAre("bind wg0"));
  sys_.calls.clear();

  sys_.bind_error = absl::OkStatus();
  sys_.AddLink("wg0", 13);
  EXPECT_TRUE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kListening);
  EXPECT_EQ(gate.ifindex(), 13);
  EXPECT_THAT(sys_.calls, ElementsAre("bind wg0", "bpf web.socket 13"));
}

// Binding to the re-created device fails for another reason while it is still down: the gate
// fails, and the filter it leaves behind admits nothing.
TEST_F(GateTest, RebindFailureWhileDownFailsTheGateClosed) {
  Gate gate = MakeGate({Listen("8443")}, "wg0");
  sys_.AddLink("wg0", 7);
  ASSERT_TRUE(gate.Reconcile());
  sys_.links.erase("wg0");
  EXPECT_FALSE(gate.Reconcile());
  sys_.calls.clear();

  sys_.bind_error =
      absl::PermissionDeniedError("bind listener to device wg0: Operation not permitted");
  sys_.AddLink("wg0", 12, /*up=*/false);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kFailed);
  EXPECT_THAT(gate.reason(), HasSubstr("Operation not permitted"));
  EXPECT_EQ(gate.ifindex(), 0);
  EXPECT_THAT(sys_.calls, ElementsAre("bind wg0"));
  sys_.calls.clear();

  // Failed stays failed, even once the device is up: the filter is never opened.
  sys_.bind_error = absl::OkStatus();
  sys_.AddLink("wg0", 12);
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kFailed);
  EXPECT_THAT(sys_.calls, IsEmpty());
}

TEST_F(GateTest, WaitsForAnAddressOnAnyLinkWithoutDevice) {
  Gate gate = MakeGate({Listen("192.0.2.1:80")}, "");
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kWaitingAddress);
  EXPECT_THAT(gate.reason(), HasSubstr("192.0.2.1"));
  sys_.addresses.push_back({"eth0", *policy::Address::Parse("192.0.2.1")});
  EXPECT_TRUE(gate.Reconcile());
  EXPECT_THAT(sys_.calls, ElementsAre("create 192.0.2.1:80 in /cg/web.socket dev="));
}

TEST_F(GateTest, ListenerErrorFailsTheGateWithTheReason) {
  Gate gate = MakeGate({Listen("8443")}, "");
  sys_.listener_error = absl::FailedPreconditionError("bind: Address already in use");
  EXPECT_FALSE(gate.Reconcile());
  EXPECT_EQ(gate.state(), GateState::kFailed);
  EXPECT_THAT(gate.reason(), HasSubstr("ListenStream=8443: bind: Address already in use"));
  EXPECT_FALSE(gate.Reconcile());  // failed stays failed
}

}  // namespace
}  // namespace gatekeeper::daemon
