// gatekeeper under real systemd: Debian 12 booted with systemd-nspawn from the root that
// scripts/nspawn-root caches, with gatekeeper.service enabled, a gate on wg0 and wg-quick@wg0
// (wireguard-go). Checks what only the real thing can: Type=notify reaches active through
// READY=1, Delegate=yes gives the daemon a cgroup subtree it can use, nothing in the boot fails
// or forms an ordering cycle because of gatekeeper, the gate listens on wg0 after boot, and
// Restart=on-failure brings the daemon and the gate back after a SIGKILL.
#include <time.h>

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

using Props = std::map<std::string, std::string>;

#define GK_ASSERT_OK(expr)                \
  do {                                    \
    const absl::Status status_ = (expr);  \
    ASSERT_TRUE(status_.ok()) << status_; \
  } while (false)

int64_t MonotonicUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

double Secs(int64_t usec) { return static_cast<double>(usec) / 1e6; }

// Seconds from `from` to the `index`th time in `times`, or "?" when there is none.
std::string SecsTo(const std::vector<int64_t>& times, size_t index, int64_t from) {
  if (times.size() <= index) return "?";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", Secs(times[index] - from));
  return buf;
}

std::string Dump(const Props& props) {
  return absl::StrJoin(props, "\n", absl::PairFormatter("="));
}

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
    GK_ASSERT_OK(container_->Prepare());
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
  Props Show(const std::string& unit) const {
    std::string out;
    const std::string properties =
        "LoadState,ActiveState,SubState,Result,Type,MainPID,NRestarts,StatusText,UnitFileState,"
        "Delegate,ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic";
    Exec({"systemctl", "show", unit, "--no-pager", "--property=" + properties}, &out);
    Props props;
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

  // When the daemon logged that the web gate listens (journal time, CLOCK_MONOTONIC µs), once
  // per daemon start. Only for the measurements: the checks use `gatekeeper status`.
  std::vector<int64_t> ListeningTimes() const {
    std::string out;
    Exec({"journalctl", "-b", "-u", "gatekeeper.service", "--no-pager", "-q", "-o", "json"}, &out);
    std::vector<int64_t> times;
    for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      int64_t t = 0;
      if (j.is_object() && j.contains("MESSAGE") && j["MESSAGE"].is_string() &&
          j["MESSAGE"].get<std::string>().starts_with("gate web: listening on") &&
          absl::SimpleAtoi(j.value("__MONOTONIC_TIMESTAMP", ""), &t)) {
        times.push_back(t);
      }
    }
    return times;
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
    GK_ASSERT_OK(c.WriteFile("/etc/machine-id", machine_id + "\n", 0444));
    // Installed the way a package would install it, enabled the way `systemctl enable` does.
    GK_ASSERT_OK(c.CopyFile(GatekeeperBinary(), "/usr/sbin/gatekeeper", 0755));
    GK_ASSERT_OK(c.CopyFile(TestServiceBinary(), "/usr/local/bin/gk-test-service", 0755));
    GK_ASSERT_OK(c.CopyFile(std::string(GK_SOURCE_DIR) + "/configs/systemd/gatekeeper.service",
                            "/usr/lib/systemd/system/gatekeeper.service", 0644));
    GK_ASSERT_OK(c.Symlink("/lib/systemd/system/gatekeeper.service",
                           "/etc/systemd/system/multi-user.target.wants/gatekeeper.service"));
    GK_ASSERT_OK(c.WriteFile("/etc/gatekeeper/web.gate", kGate));
    GK_ASSERT_OK(c.WriteFile("/etc/wireguard/wg0.conf",
                             absl::StrCat("[Interface]\nPrivateKey = ", server_key,
                                          "\nAddress = 198.51.100.1/24\nListenPort = 51820\n\n"
                                          "[Peer]\nPublicKey = ",
                                          peer_public, "\nAllowedIPs = 198.51.100.2/32\n"),
                             0600));
    GK_ASSERT_OK(
        c.WriteFile("/etc/systemd/system/wg-quick@.service.d/userspace.conf", kWgQuickUserspace));
    GK_ASSERT_OK(c.Symlink("/lib/systemd/system/wg-quick@.service",
                           "/etc/systemd/system/multi-user.target.wants/wg-quick@wg0.service"));
    // Every library the binaries load must come from the root's packages (scripts/nspawn-root).
    for (const char* bin : {"/usr/sbin/gatekeeper", "/usr/local/bin/gk-test-service"}) {
      std::string out;
      ASSERT_EQ(gatekeeper::testing::Run({"chroot", c.root(), "ldd", bin}, &out), 0) << out;
      ASSERT_FALSE(absl::StrContains(out, "not found"))
          << bin << " needs libraries the cached root lacks; add their packages to "
          << "scripts/nspawn-root:\n"
          << out;
    }
  }

  std::unique_ptr<NspawnContainer> container_;
};

TEST_P(SystemdNspawnTest, GatekeeperServiceBootsListensAndIsRestartedAfterSigkill) {
  NspawnContainer& c = *container_;
  WriteSystem();
  if (HasFatalFailure()) return;

  const int64_t start = MonotonicUsec();
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
  const int64_t booted_at = MonotonicUsec();

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
  Props unit = Show("gatekeeper.service");
  EXPECT_EQ(unit["LoadState"], "loaded");
  EXPECT_EQ(unit["UnitFileState"], "enabled");
  EXPECT_EQ(unit["Type"], "notify");
  EXPECT_EQ(unit["Delegate"], "yes");
  ASSERT_EQ(unit["ActiveState"], "active") << Dump(unit);
  EXPECT_EQ(unit["SubState"], "running");
  EXPECT_EQ(unit["NRestarts"], "0") << "the daemon crashed during the boot";
  const std::string first_pid = unit["MainPID"];
  ASSERT_NE(first_pid, "0");
  const Props first_start = unit;

  Props wg = Show("wg-quick@wg0.service");
  EXPECT_EQ(wg["ActiveState"], "active") << Dump(wg);

  ASSERT_TRUE(PollUntil([&] { return GateListensOnWg0(); }, milliseconds(20000), milliseconds(50)))
      << "gate after boot: " << Gate().dump() << "\nwg0 ifindex " << Wg0Ifindex();
  EXPECT_TRUE(absl::StrContains(Listeners(), "%wg0:8443")) << Listeners();
  EXPECT_EQ(ErrorLines(), "");
  std::printf("status after boot: %s\n", unit["StatusText"].c_str());

  // SIGKILL of the main process: Restart=on-failure starts a new daemon, which builds the gate
  // again.
  std::string out;
  const int64_t killed_at = MonotonicUsec();
  ASSERT_EQ(Exec({"sh", "-c", absl::StrCat("kill -KILL ", first_pid)}, &out), 0) << out;
  ASSERT_TRUE(PollUntil(
      [&] {
        unit = Show("gatekeeper.service");
        return unit["ActiveState"] == "active" && unit["MainPID"] != "0" &&
               unit["MainPID"] != first_pid;
      },
      milliseconds(30000), milliseconds(50)))
      << Dump(unit);
  EXPECT_EQ(unit["NRestarts"], "1");
  ASSERT_TRUE(PollUntil([&] { return GateListensOnWg0(); }, milliseconds(20000), milliseconds(50)))
      << "gate after the restart: " << Gate().dump();
  EXPECT_TRUE(absl::StrContains(Listeners(), "%wg0:8443")) << Listeners();
  EXPECT_EQ(ErrorLines(), "");
  const Props second_start = unit;
  const std::vector<int64_t> listening = ListeningTimes();
  std::string log;
  Exec(
      {"journalctl", "-b", "-u", "gatekeeper.service", "--no-pager", "-q", "-o", "short-monotonic"},
      &log);
  std::printf("---- journal of gatekeeper.service ----\n%s", log.c_str());

  // A clean stop (SIGTERM), as at shutdown: the unit ends inactive, not failed.
  const int64_t stop_at = MonotonicUsec();
  Exec({"systemctl", "stop", "gatekeeper.service"}, &out);
  unit = Show("gatekeeper.service");
  EXPECT_EQ(unit["ActiveState"], "inactive") << Dump(unit);
  EXPECT_EQ(unit["Result"], "success") << Dump(unit);
  const int64_t stopped_at = MonotonicUsec();

  EXPECT_TRUE(c.Shutdown(milliseconds(20000))) << "the container did not halt in 20 s";
  const int64_t halted_at = MonotonicUsec();

  // systemd's and the journal's monotonic timestamps are this host's CLOCK_MONOTONIC too.
  auto at = [](const Props& p, const std::string& key) {
    int64_t v = 0;
    return absl::SimpleAtoi(p.at(key), &v) ? v : int64_t{0};
  };
  std::printf(
      "measured (s): boot %.2f (nspawn start to is-system-running=%s); gatekeeper READY=1 %.2f "
      "after nspawn start, %.3f after its exec; wg-quick@wg0 done %.2f; gate listening on wg0 "
      "%s; after SIGKILL: restarted (exec) %.2f, READY=1 %.2f, listening %s; clean stop %.2f; "
      "container halt %.2f\n",
      Secs(booted_at - start), state.c_str(),
      Secs(at(first_start, "ActiveEnterTimestampMonotonic") - start),
      Secs(at(first_start, "ActiveEnterTimestampMonotonic") -
           at(first_start, "ExecMainStartTimestampMonotonic")),
      Secs(at(wg, "ActiveEnterTimestampMonotonic") - start), SecsTo(listening, 0, start).c_str(),
      Secs(at(second_start, "ExecMainStartTimestampMonotonic") - killed_at),
      Secs(at(second_start, "ActiveEnterTimestampMonotonic") - killed_at),
      SecsTo(listening, 1, killed_at).c_str(), Secs(stopped_at - stop_at),
      Secs(halted_at - stopped_at));
}

INSTANTIATE_TEST_SUITE_P(Cgroup, SystemdNspawnTest,
                         ::testing::Values(Layout::kUnified, Layout::kHost),
                         [](const ::testing::TestParamInfo<Layout>& info) {
                           return info.param == Layout::kUnified ? "V2Only" : "HostLayout";
                         });

}  // namespace
}  // namespace gatekeeper::testing
