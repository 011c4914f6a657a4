// gatekeeper under real systemd: Debian 12 booted with systemd-nspawn from the root that
// scripts/nspawn-root caches, with gatekeeper.service enabled, a gate on wg0 and wg-quick@wg0
// (wireguard-go). Checks what only the real thing can: Type=notify reaches active through
// READY=1, Delegate=yes gives the daemon a cgroup subtree it can use, nothing in the boot fails
// or forms an ordering cycle because of gatekeeper, the gate listens on wg0 after boot, and
// Restart=on-failure brings the daemon and the gate back after a SIGKILL.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/systemd/nspawn_container.h"
#include "tests/integration/test_env.h"

namespace gatekeeper::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using Layout = NspawnContainer::CgroupLayout;

constexpr char kGate[] =
    "[Socket]\n"
    "ListenStream=8443\n"
    "BindToDevice=wg0\n"
    "IPAddressDeny=any\n"
    "IPAddressAllow=198.51.100.0/24\n"
    "[Service]\n"
    "ExecStart=/usr/local/bin/gk-test-service\n";

// Debian's wg-quick falls back to wireguard-go when the kernel has no WireGuard and this is set.
constexpr char kWgQuickUserspace[] =
    "[Service]\n"
    "Environment=WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1\n";

double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Trim(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

// "wg genkey" / "wg pubkey" on the host.
std::string WgKey(const std::string& private_key = "") {
  std::string out;
  if (private_key.empty()) {
    EXPECT_EQ(Run({"wg", "genkey"}, &out), 0) << out;
    return Trim(out);
  }
  EXPECT_EQ(Run({"sh", "-c", absl::StrCat("echo '", private_key, "' | wg pubkey")}, &out), 0)
      << out;
  return Trim(out);
}

class SystemdNspawnTest : public ::testing::TestWithParam<Layout> {
 protected:
  void SetUp() override {
    GK_REQUIRE_ROOT();
    // A missing root is a missing install step, never a reason to skip.
    auto image = CachedNspawnRoot(std::string(GK_SOURCE_DIR) + "/scripts/nspawn-root");
    ASSERT_TRUE(image.ok()) << image.status().message();
    container_ = std::make_unique<NspawnContainer>(*image, GetParam());
    ASSERT_TRUE(container_->Prepare().ok());
  }

  void TearDown() override {
    if (container_ == nullptr) return;
    if (HasFailure() && container_->init_pid() > 0) {
      std::string journal;
      Exec({"journalctl", "-b", "--no-pager", "-o", "short-monotonic", "-n", "300"}, &journal);
      std::printf("---- container journal (last 300 lines) ----\n%s\n", journal.c_str());
    }
    if (HasFailure()) {
      std::printf("---- nspawn output ----\n%s\n", container_->ConsoleLog().c_str());
    }
    container_.reset();  // halts the container, removes cgroups, overlay and work directory
  }

  int Exec(const std::vector<std::string>& argv, std::string* out = nullptr) const {
    return container_->Exec(argv, out);
  }

  // `systemctl show` of the properties this test reads.
  std::map<std::string, std::string> Show(const std::string& unit) const {
    std::string out;
    Exec({"systemctl", "show", unit, "--no-pager",
          "--property=LoadState,ActiveState,SubState,Result,Type,MainPID,NRestarts,StatusText,"
          "UnitFileState,ControlGroup,Delegate"},
         &out);
    std::map<std::string, std::string> props;
    for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      props.insert(kv);
    }
    return props;
  }

  // The web gate as `gatekeeper status --json web` inside the container reports it ({} if not).
  nlohmann::json Gate() const {
    std::string out;
    if (Exec({"gatekeeper", "status", "--json", "web"}, &out) != 0) return nlohmann::json::object();
    nlohmann::json j = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j["gates"].is_array() || j["gates"].empty()) {
      return nlohmann::json::object();
    }
    return j["gates"][0];
  }

  int Wg0Ifindex() const {
    std::string out;
    if (Exec({"ip", "-o", "link", "show", "dev", "wg0"}, &out) != 0) return 0;
    int index = 0;
    return absl::SimpleAtoi(out.substr(0, out.find(':')), &index) ? index : 0;
  }

  bool GateListensOnWg0() const {
    const nlohmann::json gate = Gate();
    const std::string state = gate.value("state", "");
    return (state == "listening" || state == "running") && gate.value("device", "") == "wg0" &&
           gate.value("ifindex", 0) != 0 && gate.value("ifindex", 0) == Wg0Ifindex();
  }

  // The kernel's view, independent of what the daemon says: a TCP listener on 8443 bound to wg0.
  std::string Listeners() const {
    std::string out;
    Exec({"ss", "-Hltn", "sport = :8443"}, &out);
    return out;
  }

  std::string ErrorLines() const {
    std::string out;
    Exec({"journalctl", "-b", "-u", "gatekeeper.service", "-p", "err", "--no-pager", "-q"}, &out);
    return out;
  }

  void WriteSystem() {
    NspawnContainer& c = *container_;
    const std::string server_key = WgKey();
    const std::string peer_public = WgKey(WgKey());
    std::string machine_id;
    std::getline(std::ifstream("/proc/sys/kernel/random/uuid"), machine_id);
    machine_id = absl::StrReplaceAll(machine_id, {{"-", ""}});
    ASSERT_EQ(machine_id.size(), 32u);
    ASSERT_TRUE(c.WriteFile("/etc/machine-id", machine_id + "\n", 0444).ok());
    // Installed the way a package would install it, enabled the way `systemctl enable` does.
    ASSERT_TRUE(c.CopyFile(GatekeeperBinary(), "/usr/sbin/gatekeeper", 0755).ok());
    ASSERT_TRUE(c.CopyFile(TestServiceBinary(), "/usr/local/bin/gk-test-service", 0755).ok());
    ASSERT_TRUE(c.CopyFile(std::string(GK_SOURCE_DIR) + "/configs/systemd/gatekeeper.service",
                           "/usr/lib/systemd/system/gatekeeper.service", 0644)
                    .ok());
    ASSERT_TRUE(c.Symlink("/lib/systemd/system/gatekeeper.service",
                          "/etc/systemd/system/multi-user.target.wants/gatekeeper.service")
                    .ok());
    ASSERT_TRUE(c.WriteFile("/etc/gatekeeper/web.gate", kGate).ok());
    ASSERT_TRUE(c.WriteFile("/etc/wireguard/wg0.conf",
                            absl::StrCat("[Interface]\n"
                                         "PrivateKey = ", server_key, "\n"
                                         "Address = 198.51.100.1/24\n"
                                         "ListenPort = 51820\n"
                                         "\n"
                                         "[Peer]\n"
                                         "PublicKey = ", peer_public, "\n"
                                         "AllowedIPs = 198.51.100.2/32\n"),
                            0600)
                    .ok());
    ASSERT_TRUE(
        c.WriteFile("/etc/systemd/system/wg-quick@.service.d/userspace.conf", kWgQuickUserspace)
            .ok());
    ASSERT_TRUE(c.Symlink("/lib/systemd/system/wg-quick@.service",
                          "/etc/systemd/system/multi-user.target.wants/wg-quick@wg0.service")
                    .ok());
    // Every library the binaries load must come from the root's packages (scripts/nspawn-root).
    for (const std::string bin : {"/usr/sbin/gatekeeper", "/usr/local/bin/gk-test-service"}) {
      std::string out;
      ASSERT_EQ(gatekeeper::testing::Run({"chroot", c.root(), "ldd", bin}, &out), 0) << out;
      ASSERT_FALSE(absl::StrContains(out, "not found"))
          << bin << " needs libraries the cached root lacks; add their packages to "
          << "scripts/nspawn-root:\n" << out;
    }
  }

  std::unique_ptr<NspawnContainer> container_;
};

TEST_P(SystemdNspawnTest, GatekeeperServiceBootsListensAndIsRestartedAfterSigkill) {
  NspawnContainer& c = *container_;
  WriteSystem();
  if (HasFatalFailure()) return;

  const auto start = Clock::now();
  absl::Status booted = c.Boot(milliseconds(15000));
  ASSERT_TRUE(booted.ok()) << booted.message();

  // Boot: systemctl answers once PID 1 is up, and --wait returns when no job is left.
  std::string state;
  ASSERT_TRUE(PollUntil(
      [&] {
        std::string out;
        c.Exec({"systemctl", "is-system-running", "--wait"}, &out, seconds(60));
        state = Trim(out);
        return state == "running" || state == "degraded" || state == "maintenance" ||
               !c.nspawn_running();
      },
      milliseconds(60000)))
      << "the boot did not settle; last state: " << state;
  const auto booted_at = Clock::now();

  std::string failed;
  Exec({"systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager"}, &failed);
  EXPECT_FALSE(absl::StrContains(failed, "gatekeeper")) << failed;
  if (state != "running") {
    std::printf("note: the system is %s; failed units:\n%s\n", state.c_str(), failed.c_str());
  }
  std::string journal;
  Exec({"journalctl", "-b", "--no-pager", "-q", "-o", "cat"}, &journal);
  EXPECT_FALSE(absl::StrContains(journal, "ordering cycle")) << journal;

  // Type=notify: active only after READY=1; enabled, delegated, started once.
  std::map<std::string, std::string> unit = Show("gatekeeper.service");
  EXPECT_EQ(unit["LoadState"], "loaded");
  EXPECT_EQ(unit["UnitFileState"], "enabled");
  EXPECT_EQ(unit["Type"], "notify");
  EXPECT_EQ(unit["Delegate"], "yes");
  ASSERT_EQ(unit["ActiveState"], "active") << absl::StrJoin(unit, "\n", absl::PairFormatter("="));
  EXPECT_EQ(unit["SubState"], "running");
  EXPECT_EQ(unit["NRestarts"], "0") << "the daemon crashed during the boot";
  const std::string first_pid = unit["MainPID"];
  ASSERT_NE(first_pid, "0");

  std::map<std::string, std::string> wg = Show("wg-quick@wg0.service");
  EXPECT_EQ(wg["ActiveState"], "active") << absl::StrJoin(wg, "\n", absl::PairFormatter("="));

  ASSERT_TRUE(PollUntil([&] { return GateListensOnWg0(); }, milliseconds(20000), milliseconds(50)))
      << "gate after boot: " << Gate().dump() << "\nwg0 ifindex " << Wg0Ifindex();
  const auto listening_at = Clock::now();
  EXPECT_TRUE(absl::StrContains(Listeners(), "%wg0:8443")) << Listeners();
  EXPECT_EQ(ErrorLines(), "");
  std::printf("status after boot: %s\n", unit["StatusText"].c_str());

  // SIGKILL of the main process: Restart=on-failure starts a new daemon, which builds the gate
  // again.
  std::string out;
  ASSERT_EQ(Exec({"sh", "-c", absl::StrCat("kill -KILL ", first_pid)}, &out), 0) << out;
  const auto killed_at = Clock::now();
  ASSERT_TRUE(PollUntil(
      [&] {
        unit = Show("gatekeeper.service");
        return unit["ActiveState"] == "active" && unit["MainPID"] != "0" &&
               unit["MainPID"] != first_pid;
      },
      milliseconds(30000), milliseconds(50)))
      << absl::StrJoin(unit, "\n", absl::PairFormatter("="));
  const auto restarted_at = Clock::now();
  EXPECT_EQ(unit["NRestarts"], "1");
  ASSERT_TRUE(PollUntil([&] { return GateListensOnWg0(); }, milliseconds(20000), milliseconds(50)))
      << "gate after the restart: " << Gate().dump();
  const auto relistening_at = Clock::now();
  EXPECT_TRUE(absl::StrContains(Listeners(), "%wg0:8443")) << Listeners();
  EXPECT_EQ(ErrorLines(), "");
  std::string log;
  Exec({"journalctl", "-b", "-u", "gatekeeper.service", "--no-pager", "-q", "-o",
        "short-monotonic"},
       &log);
  std::printf("---- journal of gatekeeper.service ----\n%s", log.c_str());

  // A clean stop (SIGTERM) as at shutdown: the unit ends inactive, not failed.
  const auto stop_at = Clock::now();
  Exec({"systemctl", "stop", "gatekeeper.service"}, &out);
  unit = Show("gatekeeper.service");
  EXPECT_EQ(unit["ActiveState"], "inactive") << absl::StrJoin(unit, "\n", absl::PairFormatter("="));
  EXPECT_EQ(unit["Result"], "success");
  const auto stopped_at = Clock::now();

  c.Shutdown(milliseconds(20000));
  const auto halted_at = Clock::now();

  std::printf(
      "measured: boot %.2f s (nspawn start to is-system-running=%s), gate listening on wg0 "
      "%.2f s after nspawn start, SIGKILL to active again %.2f s, to listening again %.2f s, "
      "clean stop %.2f s, container halt %.2f s\n",
      Secs(booted_at - start), state.c_str(), Secs(listening_at - start),
      Secs(restarted_at - killed_at), Secs(relistening_at - killed_at), Secs(stopped_at - stop_at),
      Secs(halted_at - stopped_at));
}

INSTANTIATE_TEST_SUITE_P(Cgroup, SystemdNspawnTest,
                         ::testing::Values(Layout::kUnified, Layout::kHost),
                         [](const ::testing::TestParamInfo<Layout>& info) {
                           return info.param == Layout::kUnified ? "V2Only" : "HostLayout";
                         });

}  // namespace
}  // namespace gatekeeper::testing
