// The gate's device logic against a fake kernel: waiting, binding once, re-binding the same
// listener to a re-created device, never unbinding, and the BPF device binding kept in step.
#include "daemon/gate.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeSystem : public GateSystem {
 public:
  std::map<std::string, net::Link> links;
  std::vector<std::pair<std::string, policy::Address>> addresses;  // device, address
  int next_fd = 100;
  std::vector<std::string> calls;  // what the gate asked for, in order
  absl::Status listener_error = absl::OkStatus();

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
    return absl::OkStatus();
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
