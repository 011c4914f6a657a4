#include "tests/bench/link_bench_cycle.h"

#include <poll.h>

#include <algorithm>
#include <cstdint>
#include <span>

#include "absl/cleanup/cleanup.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "tests/bench/link_bench_clock.h"

namespace gatekeeper::bench {
namespace {

constexpr int64_t kCycleTimeout = 5'000 * kMs;

// Waits for the prober's answer (and, with `want_listening`, for the "listening on" line too)
// until `deadline`. False when the deadline passed first.
absl::StatusOr<bool> Probe(BenchEnv& env, Prober& prober, LogEvents& log, bool want_listening,
                           int64_t deadline) {
  Daemon& daemon = env.daemon();
  for (;;) {
    Scan(daemon.TakeLines(), log);  // also what came while the caller waited for something else
    const int64_t now = NowNs();
    if (prober.done() && (!want_listening || log.listening_ns)) return true;
    if (now >= deadline) return false;
    if (!prober.done()) prober.Step(now);
    pollfd p{};
    const bool client = prober.Fill(p);
    GK_RETURN_IF_ERROR(daemon.Poll(client ? std::span<pollfd>(&p, 1) : std::span<pollfd>(),
                                   std::min(deadline, prober.WakeAt())));
    if (client) prober.OnReady(p.revents);
  }
}

// Waits until the daemon logged that the device is away.
absl::StatusOr<bool> WaitAway(BenchEnv& env, LogEvents& log, int64_t deadline) {
  Daemon& daemon = env.daemon();
  for (;;) {
    Scan(daemon.TakeLines(), log);  // the line may have come while the tool ran `ip`
    if (log.away) return true;
    if (NowNs() >= deadline) return false;
    GK_RETURN_IF_ERROR(daemon.Poll({}, deadline));
  }
}

// One cycle; a failure reason, or "" when it was measured. Errors end the run.
absl::StatusOr<std::string> Cycle(BenchEnv& env, Mode mode, RunResults& run) {
  Daemon& daemon = env.daemon();
  Network& network = env.network();
  Scan(daemon.TakeLines(), run.log);  // a previous cycle's late lines
  LogEvents log;
  // What this cycle's lines said goes into the run's totals on every way out.
  absl::Cleanup merge = [&] {
    run.log.daemon_reported_ms.insert(run.log.daemon_reported_ms.end(),
                                      log.daemon_reported_ms.begin(), log.daemon_reported_ms.end());
    run.log.service_starts += log.service_starts;
    run.log.warnings += log.warnings;
    run.log.denial_lines += log.denial_lines;
    for (const std::string& w : log.first_warnings) {
      if (run.log.first_warnings.size() < 5) run.log.first_warnings.push_back(w);
    }
  };
  int64_t deadline = NowNs() + kCycleTimeout;
  if (mode == Mode::kDownUp) {
    GK_RETURN_IF_ERROR(network.SendServerLink(false));
    GK_RETURN_IF_ERROR(network.WaitServerAck(deadline));
  } else {
    GK_RETURN_IF_ERROR(network.DeleteVeth());
  }
  GK_ASSIGN_OR_RETURN(const bool away, WaitAway(env, log, deadline));
  if (!away) return std::string("the daemon did not log the device going away within 5 s");
  if (mode == Mode::kRecreate) GK_RETURN_IF_ERROR(network.CreateVeth(/*server_up=*/false));
  // A status round trip also lets the daemon finish with the events of the re-created pair
  // before the clock starts.
  GK_ASSIGN_OR_RETURN(const nlohmann::json gate, daemon.GateStatus());
  if (gate.value("state", "") != "waiting-device") {
    return absl::StrCat("before the up request the gate is ", gate.value("state", "?"), " (",
                        gate.value("reason", ""), ")");
  }

  const int64_t t0 = NowNs();
  GK_RETURN_IF_ERROR(network.SendServerLink(true));
  deadline = t0 + kCycleTimeout;
  GK_RETURN_IF_ERROR(network.WaitServerAck(deadline));
  const int64_t t1 = NowNs();
  Prober prober;
  GK_ASSIGN_OR_RETURN(const bool done, Probe(env, prober, log, /*want_listening=*/true, deadline));
  AddCounts(run.client, prober.counts());
  if (!done) {
    return absl::StrCat("not done within 5 s of the up request (",
                        log.listening_ns ? "listening logged" : "no listening line", ", ",
                        prober.done() ? "answered" : "no answer", ", ", prober.counts().attempts,
                        " connection attempts)");
  }
  run.up_to_ack_ms.push_back(static_cast<double>(t1 - t0) / kMs);
  run.event_to_listening_ms.push_back(static_cast<double>(*log.listening_ns - t1) / kMs);
  run.up_to_connection_ms.push_back(static_cast<double>(prober.answered_ns() - t0) / kMs);
  if (prober.answer_pid() != run.service_pid_start) ++run.other_pid_answers;
  return std::string();
}

// After a failed cycle: the pair exists, both ends are up and the gate listens again.
absl::Status Recover(BenchEnv& env, LogEvents& log) {
  Network& network = env.network();
  GK_ASSIGN_OR_RETURN(const bool exists, network.ServerDeviceExists());
  if (!exists) GK_RETURN_IF_ERROR(network.CreateVeth(/*server_up=*/false));
  GK_RETURN_IF_ERROR(network.SetClientUp());
  const int64_t deadline = NowNs() + kCycleTimeout;
  GK_RETURN_IF_ERROR(network.SendServerLink(true));
  GK_RETURN_IF_ERROR(network.WaitServerAck(deadline));
  Prober prober;
  GK_ASSIGN_OR_RETURN(const bool answered, Probe(env, prober, log, false, deadline));
  GK_ASSIGN_OR_RETURN(const nlohmann::json gate, env.daemon().GateStatus());
  if (!answered || gate.value("state", "") != "running") {
    return absl::InternalError("the gate did not come back after a failed cycle: " + gate.dump() +
                               "\n" + env.daemon().RecentLog());
  }
  return absl::OkStatus();
}

// service.pid / service.restarts of a gate's status; -1 when absent.
int ServiceField(const nlohmann::json& gate, const char* field) {
  const nlohmann::json service = gate.value("service", nlohmann::json::object());
  return service.is_object() ? service.value(field, -1) : -1;
}

}  // namespace

absl::Status RunCycles(BenchEnv& env, Mode mode, int cycles, RunResults& run) {
  GK_ASSIGN_OR_RETURN(const nlohmann::json first, env.daemon().GateStatus());
  run.service_pid_start = ServiceField(first, "pid");
  run.restarts_start = ServiceField(first, "restarts");
  // One connection before the clock runs: the whole path works, and it is this service.
  Prober prober;
  GK_ASSIGN_OR_RETURN(const bool answered,
                      Probe(env, prober, run.log, false, NowNs() + kCycleTimeout));
  if (!answered || prober.answer_pid() != run.service_pid_start) {
    return absl::InternalError(absl::StrCat(
        "the service (pid ", run.service_pid_start, ") did not answer a first connection (",
        answered ? absl::StrCat("pid ", prober.answer_pid(), " did") : "no answer", ")"));
  }
  for (int i = 1; i <= cycles; ++i) {
    GK_ASSIGN_OR_RETURN(const std::string failure, Cycle(env, mode, run));
    if (failure.empty()) {
      ++run.completed;
      continue;
    }
    run.Fail(i, failure);
    GK_RETURN_IF_ERROR(Recover(env, run.log));
  }
  Scan(env.daemon().TakeLines(), run.log);
  GK_ASSIGN_OR_RETURN(const nlohmann::json last, env.daemon().GateStatus());
  run.service_pid_end = ServiceField(last, "pid");
  run.restarts_end = ServiceField(last, "restarts");
  return absl::OkStatus();
}

}  // namespace gatekeeper::bench
