// gk-link-bench: how fast a gate comes back when its device does. CYCLES times, the gate's device
// goes away (set down, or the veth pair deleted and created again, down) and is set up again with
// one RTM_NEWLINK from this tool; per cycle it measures
//   link event -> listening:          the kernel's ack of that request (the link event is
//                                     broadcast before the ack) to reading the daemon's
//                                     "listening on" line from its stderr;
//   up call -> first connection:      just before sending the request to the first connection
//                                     from the client namespace that got the service's answer.
// The client tries a non-blocking connect and abandons it after 1 ms: a SYN arriving while the
// gate is away is dropped by its filter, and TCP would only retransmit after a second. So the
// second figure has a resolution of about 1 ms.
//
//   gk-link-bench --gatekeeper PATH --service PATH --cycles N --mode down-up|recreate [--json]
//
// "refused" attempts are resets: in recreate mode a SYN that arrives before the daemon has bound
// its listener to the new device finds no socket, and the kernel answers it with a RST.
//
// Root only. Builds two network namespaces gkbl<pid>s/c joined by a veth pair (192.0.2.1/24 and
// 192.0.2.2/24, nothing else; IPv6 off; a permanent neighbour entry for the server on the client,
// see link_bench_netns.cc), runs `gatekeeper run` in the server one with dirs, cgroups and a bpffs
// dir of its own, and removes all of it at the end, on errors and on ^C. Prints p50, p99,
// min, max and mean in ms (one JSON object with --json). A cycle not done within 5 s counts as
// failed and is reported. Exit status: 0 when the run completed and the cleanup found nothing
// wrong (failed cycles and a restarted service are reported, not an error), 1 on errors, 2 on
// usage errors, 130 when interrupted.
//
// The parts: link_bench_cycle.cc runs the cycles, with the client of link_bench_client.cc and
// the log reading of link_bench_daemon_log.cc; link_bench_env.cc builds and removes the world:
// the namespaces and veth pair (link_bench_netns.cc), the daemon's cgroups and bpffs dir
// (link_bench_daemon_dirs.cc) and the daemon itself (link_bench_daemon.cc), every `ip` command
// run by link_bench_command.cc; link_bench_report.cc prints the results.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/bench/link_bench_clock.h"
#include "tests/bench/link_bench_cycle.h"
#include "tests/bench/link_bench_env.h"
#include "tests/bench/link_bench_report.h"

namespace gatekeeper::bench {
namespace {

struct Options {
  std::string gatekeeper;
  std::string service;
  int cycles = 0;
  Mode mode = Mode::kDownUp;
  bool json = false;
};

constexpr char kUsage[] =
    "usage: gk-link-bench --gatekeeper PATH --service PATH --cycles N "
    "--mode down-up|recreate [--json]\n";

std::optional<Options> ParseArgs(int argc, char** argv, std::string& error) {
  Options o;
  bool have_mode = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (arg != "--json" && arg != "--help" && arg != "-h" && i + 1 < argc) {
      value = argv[++i];
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--json") {
      o.json = true;
    } else if (arg == "--gatekeeper" || arg == "--service") {
      char* real = ::realpath(value.c_str(), nullptr);
      if (real == nullptr || ::access(real, X_OK) != 0) {
        error = absl::StrCat(arg, " ", value, ": not an executable file");
        std::free(real);
        return std::nullopt;
      }
      (arg == "--gatekeeper" ? o.gatekeeper : o.service) = real;
      std::free(real);
    } else if (arg == "--cycles") {
      if (!absl::SimpleAtoi(value, &o.cycles) || o.cycles <= 0) {
        error = "--cycles needs a positive number";
        return std::nullopt;
      }
    } else if (arg == "--mode") {
      if (value != "down-up" && value != "recreate") {
        error = "--mode is down-up or recreate";
        return std::nullopt;
      }
      o.mode = value == "down-up" ? Mode::kDownUp : Mode::kRecreate;
      have_mode = true;
    } else {
      error = "unknown argument " + arg;
      return std::nullopt;
    }
  }
  if (o.gatekeeper.empty() || o.service.empty() || o.cycles == 0 || !have_mode) {
    error = "--gatekeeper, --service, --cycles and --mode are required";
    return std::nullopt;
  }
  return o;
}

int Main(int argc, char** argv) {
  std::string error;
  const std::optional<Options> options = ParseArgs(argc, argv, error);
  if (!options) {
    std::fprintf(stderr, "gk-link-bench: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "gk-link-bench: run as root (namespaces, cgroups, BPF)\n");
    return 1;
  }
  const int64_t wall_start = NowNs();
  RunResults run;
  RunEnd end;
  {
    BenchEnv env(options->gatekeeper, options->service);
    end.status = env.Setup();
    if (end.status.ok()) end.status = RunCycles(env, options->mode, options->cycles, run);
    end.cleanup_problems = env.Cleanup();
    end.daemon_exit_status = env.daemon().exit_status();
  }
  end.wall_s = static_cast<double>(NowNs() - wall_start) / 1e9;
  PrintReport(run, options->mode, options->cycles, end, options->json);
  if (!end.status.ok()) {
    std::fprintf(stderr, "gk-link-bench: %s\n", std::string(end.status.message()).c_str());
  }
  if (absl::IsCancelled(end.status)) return 130;
  return end.status.ok() && end.cleanup_problems.empty() ? 0 : 1;
}

}  // namespace
}  // namespace gatekeeper::bench

int main(int argc, char** argv) { return gatekeeper::bench::Main(argc, argv); }
