// gatekeeper: the command line (see README "Commands"). One binary: the daemon and its clients.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/analyze_command.h"
#include "cli/check_command.h"
#include "cli/explain_command.h"
#include "cli/reload_command.h"
#include "cli/status_command.h"
#include "daemon/daemon.h"

namespace gatekeeper::cli {
namespace {

constexpr char kUsage[] =
    "usage: gatekeeper COMMAND [OPTIONS]\n"
    "\n"
    "  run     [--config-dir DIR] [--runtime-dir DIR] [--cgroup-base PATH] [--host-cgroup PATH]\n"
    "          [--bpffs-dir DIR] [--metrics-listen ADDR:PORT]  the daemon, in the foreground\n"
    "  check   [--config-dir DIR | FILE...]  validate gate files; FILE:LINE: message per error\n"
    "  status  [--runtime-dir DIR] [--json] [GATE]  state, device, listeners, service, counters\n"
    "  explain [--runtime-dir DIR] (GATE | --host) ADDRESS  the verdict and the entry deciding it\n"
    "  reload  [--runtime-dir DIR]        load the configuration again (also SIGHUP)\n"
    "  metrics [--runtime-dir DIR]        counters in Prometheus text format\n"
    "  analyze [--root DIR] [--json] [--device-created-by IFACE=UNIT]... [--suggest-gate]\n"
    "          [UNIT...]  boot ordering cycles and device-wait stalls in systemd units\n"
    "\n"
    "Defaults: --config-dir /etc/gatekeeper, --runtime-dir /run/gatekeeper,\n"
    "--bpffs-dir /sys/fs/bpf/gatekeeper, the host scope at the cgroup v2 root.\n";

// "--name value" and "--name=value"; the rest are positional. Unknown flags are errors.
struct Args {
  std::vector<std::pair<std::string, std::string>> flags;
  std::vector<std::string> positional;
};

bool Parse(int argc, char** argv, const std::vector<std::string>& valued,
           const std::vector<std::string>& boolean, Args& out, std::string& error) {
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (!absl::StartsWith(arg, "--")) {
      out.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (std::find(boolean.begin(), boolean.end(), name) != boolean.end() && !inline_value) {
      out.flags.emplace_back(name, "1");
      continue;
    }
    if (std::find(valued.begin(), valued.end(), name) == valued.end()) {
      error = absl::StrCat("unknown option --", name);
      return false;
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        error = absl::StrCat("--", name, " needs a value");
        return false;
      }
      value = argv[++i];
    }
    out.flags.emplace_back(name, value);
  }
  return true;
}

int Run(const Args& args) {
  daemon::DaemonOptions o;
  for (const auto& [k, v] : args.flags) {
    if (k == "config-dir") o.config_dir = v;
    if (k == "runtime-dir") o.runtime_dir = v;
    if (k == "cgroup-base") o.cgroup_base = v;
    if (k == "host-cgroup") o.host_cgroup = v;
    if (k == "bpffs-dir") o.bpffs_dir = v;
    if (k == "metrics-listen") o.metrics_listen = v;
  }
  if (!args.positional.empty()) {
    std::fprintf(stderr, "gatekeeper run: unexpected argument %s\n", args.positional[0].c_str());
    return 2;
  }
  const absl::Status s = daemon::RunDaemon(o);
  if (!s.ok()) {
    // Every line at error priority: `journalctl -p err` must show the FILE:LINE lines too.
    for (absl::string_view line : absl::StrSplit(s.message(), '\n')) {
      std::fprintf(stderr, "<3>gatekeeper: %s\n", std::string(line).c_str());
    }
    return 1;
  }
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  Args args;
  std::string error;
  bool ok = true;
  if (command == "run") {
    ok = Parse(
        argc, argv,
        {"config-dir", "runtime-dir", "cgroup-base", "host-cgroup", "bpffs-dir", "metrics-listen"},
        {}, args, error);
    if (ok) return Run(args);
  } else if (command == "check") {
    ok = Parse(argc, argv, {"config-dir"}, {}, args, error);
    if (ok) return CheckCommand(args.flags, args.positional);
  } else if (command == "status") {
    ok = Parse(argc, argv, {"runtime-dir"}, {"json"}, args, error);
    if (ok) return StatusCommand(args.flags, args.positional);
  } else if (command == "explain") {
    ok = Parse(argc, argv, {"runtime-dir"}, {"host"}, args, error);
    if (ok) return ExplainCommand(args.flags, args.positional);
  } else if (command == "metrics") {
    ok = Parse(argc, argv, {"runtime-dir"}, {}, args, error);
    if (ok) return MetricsCommand(args.flags, args.positional);
  } else if (command == "reload") {
    ok = Parse(argc, argv, {"runtime-dir"}, {}, args, error);
    if (ok) return ReloadCommand(args.flags, args.positional);
  } else if (command == "analyze") {
    ok = Parse(argc, argv, {"root", "device-created-by"}, {"json", "suggest-gate"}, args, error);
    if (ok) return AnalyzeCommand(args.flags, args.positional);
  } else {
    std::fprintf(stderr, "gatekeeper: unknown command \"%s\"\n\n%s", command.c_str(), kUsage);
    return 2;
  }
  std::fprintf(stderr, "gatekeeper %s: %s\n", command.c_str(), error.c_str());
  return 2;
}

}  // namespace gatekeeper::cli

int main(int argc, char** argv) { return gatekeeper::cli::Main(argc, argv); }
