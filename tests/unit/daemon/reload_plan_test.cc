// Which gates a reload leaves alone, re-filters, restarts or rebuilds, from configuration text.
#include "daemon/reload_plan.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class RootOnly : public config::UserResolver {
 public:
  std::optional<uid_t> Uid(std::string_view name) override {
    return name == "root" ? std::optional<uid_t>(0) : std::nullopt;
  }
  std::optional<gid_t> Gid(std::string_view name) override {
    return name == "root" ? std::optional<gid_t>(0) : std::nullopt;
  }
};

config::GateConfig Gate(const std::string& name, const std::string& text) {
  RootOnly resolver;
  config::LoadResult r = config::ParseGate(name, {name + ".gate", text}, {}, resolver);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].ToString());
  return r.config.gates.at(0);
}

config::Config Conf(std::vector<config::GateConfig> gates, const std::string& host = "") {
  config::Config c;
  if (!host.empty()) {
    RootOnly resolver;
    config::LoadResult r = config::ParseHostConfig({"gatekeeper.conf", host}, resolver);
    EXPECT_TRUE(r.ok());
    c.host = r.config.host;
  }
  c.gates = std::move(gates);
  return c;
}

const std::string kWeb =
    "[Socket]\nListenStream=8443\nIPAddressDeny=any\nIPAddressAllow=192.0.2.0/24\n"
    "[Service]\nExecStart=/bin/true\n";

GateChange ChangeOf(const ReloadPlan& plan, const std::string& gate) {
  for (const GatePlan& g : plan.gates) {
    if (g.name == gate) return g.change;
  }
  ADD_FAILURE() << "no plan for " << gate;
  return GateChange::kUnchanged;
}

TEST(ReloadPlanTest, IdenticalConfigurationChangesNothing) {
  const ReloadPlan plan = PlanReload(Conf({Gate("web", kWeb)}), Conf({Gate("web", kWeb)}));
  EXPECT_EQ(ChangeOf(plan, "web"), GateChange::kUnchanged);
  EXPECT_FALSE(plan.host_lists_changed);
  EXPECT_THAT(plan.Describe(), IsEmpty());
}

TEST(ReloadPlanTest, NewAllowEntryOnlySwapsTheFilter) {
  const std::string next = kWeb + "[Socket]\nIPAddressAllow=198.51.100.7\n";
  const ReloadPlan plan = PlanReload(Conf({Gate("web", kWeb)}), Conf({Gate("web", next)}));
  EXPECT_EQ(ChangeOf(plan, "web"), GateChange::kPolicy);
  EXPECT_THAT(plan.Describe(), ElementsAre("gate web: access lists changed: filters swapped"));
}

TEST(ReloadPlanTest, ServiceListsAreCompared) {
  const std::string next = kWeb + "IPAddressDeny=203.0.113.0/24\n";
  EXPECT_EQ(ChangeOf(PlanReload(Conf({Gate("web", kWeb)}), Conf({Gate("web", next)})), "web"),
            GateChange::kPolicy);
}

TEST(ReloadPlanTest, MovedLineIsAPolicyChangeBecauseRuleNamesMove) {
  const std::string next = "# a comment\n" + kWeb;
  EXPECT_EQ(ChangeOf(PlanReload(Conf({Gate("web", kWeb)}), Conf({Gate("web", next)})), "web"),
            GateChange::kPolicy);
}

TEST(ReloadPlanTest, HostListsChangeEveryGatesFilter) {
  const ReloadPlan plan = PlanReload(
      Conf({Gate("web", kWeb), Gate("ssh", kWeb)}),
      Conf({Gate("web", kWeb), Gate("ssh", kWeb)}, "[Host]\nIPAddressDeny=203.0.113.0/24\n"));
  EXPECT_TRUE(plan.host_lists_changed);
  EXPECT_EQ(ChangeOf(plan, "web"), GateChange::kPolicy);
  EXPECT_EQ(ChangeOf(plan, "ssh"), GateChange::kPolicy);
}

TEST(ReloadPlanTest, ExecStartChangeRestartsTheServiceOnTheSameListeners) {
  std::string next = kWeb;
  next.replace(next.find("/bin/true"), 9, "/bin/false");
  const ReloadPlan plan = PlanReload(Conf({Gate("web", kWeb)}), Conf({Gate("web", next)}));
  ASSERT_EQ(plan.gates.size(), 1u);
  EXPECT_EQ(plan.gates[0].change, GateChange::kService);
  EXPECT_FALSE(plan.gates[0].policy_changed);
  EXPECT_THAT(plan.Describe(),
              ElementsAre("gate web: service changed (ExecStart=): restarted on the same "
                          "listeners"));
}

TEST(ReloadPlanTest, ServiceAndListsChangeTogether) {
  std::string next = kWeb + "Restart=always\nIPAddressDeny=203.0.113.9\n";
  const ReloadPlan plan = PlanReload(Conf({Gate("web", kWeb)}), Conf({Gate("web", next)}));
  EXPECT_EQ(plan.gates[0].change, GateChange::kService);
  EXPECT_TRUE(plan.gates[0].policy_changed);
}

TEST(ReloadPlanTest, AddingAServiceRestartsNothingButTheService) {
  const std::string socket_only = "[Socket]\nListenStream=8443\n";
  const ReloadPlan plan =
      PlanReload(Conf({Gate("web", socket_only)}),
                 Conf({Gate("web", socket_only + "[Service]\nExecStart=/bin/true\n")}));
  EXPECT_EQ(plan.gates[0].change, GateChange::kService);
  EXPECT_EQ(plan.gates[0].why, "[Service] added");
}

TEST(ReloadPlanTest, ListenerChangeRebuildsTheGate) {
  std::string next = kWeb;
  next.replace(next.find("8443"), 4, "8444");
  const ReloadPlan plan = PlanReload(Conf({Gate("web", kWeb)}), Conf({Gate("web", next)}));
  EXPECT_EQ(plan.gates[0].change, GateChange::kListeners);
  EXPECT_THAT(plan.Describe(), ElementsAre("gate web: Listen*= changed: stopped and built again"));
}

TEST(ReloadPlanTest, DeviceChangeRebuildsTheGate) {
  const ReloadPlan plan = PlanReload(Conf({Gate("web", kWeb + "[Socket]\nBindToDevice=wg0\n")}),
                                     Conf({Gate("web", kWeb + "[Socket]\nBindToDevice=wg1\n")}));
  EXPECT_EQ(plan.gates[0].change, GateChange::kListeners);
  EXPECT_EQ(plan.gates[0].why, "BindToDevice=");
}

TEST(ReloadPlanTest, AcceptChangeKeepsTheListeners) {
  const ReloadPlan plan =
      PlanReload(Conf({Gate("web", kWeb)}), Conf({Gate("web", kWeb + "[Socket]\nAccept=yes\n")}));
  EXPECT_EQ(plan.gates[0].change, GateChange::kService);
  EXPECT_EQ(plan.gates[0].why, "Accept=");
}

TEST(ReloadPlanTest, AddedAndRemovedGates) {
  const ReloadPlan plan = PlanReload(Conf({Gate("a", kWeb), Gate("b", kWeb)}),
                                     Conf({Gate("b", kWeb), Gate("c", kWeb)}));
  EXPECT_EQ(ChangeOf(plan, "a"), GateChange::kRemoved);
  EXPECT_EQ(ChangeOf(plan, "b"), GateChange::kUnchanged);
  EXPECT_EQ(ChangeOf(plan, "c"), GateChange::kAdded);
  EXPECT_THAT(plan.Describe(), ElementsAre("gate a: removed", "gate c: added"));
}

TEST(ReloadPlanTest, ControlGroupChangeIsNoticed) {
  const ReloadPlan plan = PlanReload(Conf({}), Conf({}, "[Control]\nGroup=root\n"));
  EXPECT_TRUE(plan.control_group_changed);
  EXPECT_FALSE(plan.host_lists_changed);
}

}  // namespace
}  // namespace gatekeeper::daemon
