#include "tests/bench/link_bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace gatekeeper::bench {
namespace {

struct Summary {
  size_t n = 0;
  double p50 = 0, p99 = 0, min = 0, max = 0, mean = 0;
};

// Nearest-rank percentiles: p99 of 1000 values is the 990th smallest.
Summary Summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    const size_t r = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(r, 1, v.size()) - 1];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  s.min = v.front();
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

nlohmann::ordered_json ToJson(const Summary& s) {
  if (s.n == 0) return {{"n", 0}};
  auto r = [](double x) { return std::round(x * 1000.0) / 1000.0; };  // microseconds
  return {{"n", s.n},        {"p50", r(s.p50)}, {"p99", r(s.p99)},
          {"min", r(s.min)}, {"max", r(s.max)}, {"mean", r(s.mean)}};
}

std::string Row(const std::string& name, const Summary& s) {
  if (s.n == 0) return absl::StrFormat("  %-34s (no samples)\n", name);
  return absl::StrFormat("  %-34s %8.3f %8.3f %8.3f %8.3f %8.3f %6d\n", name, s.p50, s.p99, s.min,
                         s.max, s.mean, s.n);
}

// The figures both forms print.
struct Figures {
  const char* mode;
  bool interrupted;
  std::optional<bool> restarted;  // known only when the run got to its final status request
  Summary listening, connection, ack, reported;
};

void PrintJson(const RunResults& run, int cycles, const RunEnd& end, const Figures& f) {
  // Ordered: people read this too (scripts/bench puts it into results.md as it is).
  nlohmann::ordered_json out = {
      {"mode", f.mode},
      {"cycles", cycles},
      {"completed", run.completed},
      {"failed", run.failed},
      {"failures", run.failures},
      {"link_event_to_listening_ms", ToJson(f.listening)},
      {"up_to_first_connection_ms", ToJson(f.connection)},
      {"up_request_to_ack_ms", ToJson(f.ack)},
      {"daemon_reported_link_event_to_listening_ms", ToJson(f.reported)},
      {"client",
       {{"attempts", run.client.attempts},
        {"abandoned_after_1ms", run.client.abandoned},
        {"refused", run.client.refused},
        {"lost_after_connect", run.client.lost}}},
      {"service",
       {{"pid_start", run.service_pid_start},
        {"pid_end", run.service_pid_end},
        {"restarts_start", run.restarts_start},
        {"restarts_end", run.restarts_end},
        {"answers_from_other_pids", run.other_pid_answers},
        {"starts_logged", run.log.service_starts},
        {"restarted", f.restarted ? nlohmann::ordered_json(*f.restarted) : nullptr}}},
      {"daemon_denial_lines", run.log.denial_lines},
      {"daemon_warnings", run.log.warnings},
      {"daemon_warning_lines", run.log.first_warnings},
      {"daemon_exit_status", end.daemon_exit_status},
      {"cleanup", {{"clean", end.cleanup_problems.empty()}, {"problems", end.cleanup_problems}}},
      {"wall_s", std::round(end.wall_s * 100) / 100},
      {"interrupted", f.interrupted}};
  if (!end.status.ok()) out["error"] = std::string(end.status.message());
  std::printf("%s\n", out.dump().c_str());
}

void PrintText(const RunResults& run, int cycles, const RunEnd& end, const Figures& f) {
  std::printf("gk-link-bench: mode %s, %d cycles: %d measured, %d failed%s; wall %.1f s\n", f.mode,
              cycles, run.completed, run.failed, f.interrupted ? " (interrupted)" : "", end.wall_s);
  std::printf("  %-34s %8s %8s %8s %8s %8s %6s\n", "ms", "p50", "p99", "min", "max", "mean", "n");
  std::printf("%s", Row("link event -> listening", f.listening).c_str());
  std::printf("%s", Row("up call -> first connection", f.connection).c_str());
  std::printf("%s", Row("(up call -> kernel ack)", f.ack).c_str());
  std::printf("%s", Row("(daemon's own event -> listening)", f.reported).c_str());
  std::printf("  client: %d connection attempts, %d abandoned after 1 ms, %d refused, %d lost\n",
              run.client.attempts, run.client.abandoned, run.client.refused, run.client.lost);
  std::printf(
      "  service: pid %d at start, %d at end, restarts %d -> %d, %d answers from other "
      "pids, %d start(s) logged: %s\n",
      run.service_pid_start, run.service_pid_end, run.restarts_start, run.restarts_end,
      run.other_pid_answers, run.log.service_starts,
      !f.restarted   ? "not known (no final status)"
      : *f.restarted ? "RESTARTED"
                     : "never restarted");
  for (const std::string& failure : run.failures) std::printf("  failed %s\n", failure.c_str());
  std::printf(
      "  daemon: %d denial lines (probes while away), %d other warning/error lines, "
      "exit status %d on SIGTERM\n",
      run.log.denial_lines, run.log.warnings, end.daemon_exit_status);
  for (const std::string& w : run.log.first_warnings) std::printf("    %s\n", w.c_str());
  std::printf("  cleanup: %s\n", end.cleanup_problems.empty() ? "clean" : "PROBLEMS");
  for (const std::string& p : end.cleanup_problems) std::printf("    %s\n", p.c_str());
}

}  // namespace

void PrintReport(const RunResults& run, Mode mode, int cycles, const RunEnd& end, bool json) {
  Figures f{.mode = mode == Mode::kDownUp ? "down-up" : "recreate",
            .interrupted = absl::IsCancelled(end.status),
            .listening = Summarize(run.event_to_listening_ms),
            .connection = Summarize(run.up_to_connection_ms),
            .ack = Summarize(run.up_to_ack_ms),
            .reported = Summarize(run.log.daemon_reported_ms)};
  if (run.restarts_end >= 0) {
    f.restarted = run.restarts_end != run.restarts_start ||
                  run.service_pid_end != run.service_pid_start || run.other_pid_answers > 0;
  }
  if (json) {
    PrintJson(run, cycles, end, f);
  } else {
    PrintText(run, cycles, end, f);
  }
}

}  // namespace gatekeeper::bench
