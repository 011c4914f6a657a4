// Measures how long a policy of N prefixes takes to compile, load into fresh tries and swap in,
// on a real scope (root only). Prints per-phase medians and ranges over several runs, and also
// the time the list took to parse (one assignment of N tokens), which the total leaves out.
//   policy_swap_bench [N=1000000] [runs=5] [--compile-only]
// --compile-only leaves the kernel alone (no root needed): parse and compile only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernel/cgroup.h"
#include "kernel/engine.h"
#include "kernel/kernel_support.h"
#include "kernel/policy_tries.h"
#include "policy/compiler.h"

namespace {

using Clock = std::chrono::steady_clock;
using gatekeeper::policy::Address;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// N random /24../32 IPv4 prefixes (mostly distinct) as one assignment's value, in random order.
std::string RandomAllowValue(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string allow;
  allow.reserve(n * 20);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t a = rng();
    absl::StrAppend(&allow, a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".", a & 255, "/",
                    24 + rng() % 9, " ");
  }
  return allow;
}

// That allow list and a deny-any, as issue 2's target describes.
gatekeeper::policy::AccessLists ParseLists(const std::string& allow) {
  gatekeeper::policy::AccessLists lists;
  (void)lists.allow.Assign(allow, {.file = "bench.gate", .line = 1, .key = "IPAddressAllow"});
  (void)lists.deny.Assign("any", {.file = "bench.gate", .line = 2, .key = "IPAddressDeny"});
  return lists;
}

struct Range {
  double median, min, max;
};

Range Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

void Print(const char* name, const std::vector<double>& v) {
  const Range r = Summarize(v);
  std::printf("%-20s median %8.1f ms   min %8.1f   max %8.1f\n", name, r.median, r.min, r.max);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool compile_only = std::erase(args, "--compile-only") > 0;
  const size_t n = !args.empty() ? std::strtoul(args[0].c_str(), nullptr, 10) : 1000000;
  const int runs = args.size() > 1 ? std::atoi(args[1].c_str()) : 5;
  std::vector<double> parse_ms, compile_ms, load_swap_ms, total_ms;
  size_t entries = 0;
  if (compile_only) {
    for (int r = 0; r < runs; ++r) {
      std::string allow = RandomAllowValue(n, 1000 + r);
      const auto t0 = Clock::now();
      const auto lists = ParseLists(allow);
      const auto t1 = Clock::now();
      std::string().swap(allow);  // as before parsing was timed: the text is gone when compiling
      const auto policy = gatekeeper::policy::Compile(lists);
      const auto t2 = Clock::now();
      entries = policy.size();
      parse_ms.push_back(Ms(t1 - t0));
      compile_ms.push_back(Ms(t2 - t1));
    }
    std::printf("prefixes requested %zu, trie entries %zu, runs %d (compile only)\n", n, entries,
                runs);
    Print("parse", parse_ms);
    Print("compile", compile_ms);
    return 0;
  }

  gatekeeper::kernel::LiveKernelProbe probe;
  const auto cgroup2 = probe.Cgroup2Mount();
  if (!cgroup2) return 1;
  const std::string tag = absl::StrCat("gkbench", getpid());
  auto engine = gatekeeper::kernel::Engine::Open({.bpffs_dir = "/sys/fs/bpf/" + tag}, probe);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().ToString().c_str());
    return 1;
  }
  gatekeeper::kernel::ScopeSpec spec;
  spec.name = "bench";
  spec.cgroup_path = absl::StrCat(*cgroup2, "/", tag);
  auto scope = (*engine)->AttachScope(spec, gatekeeper::policy::CompiledPolicy{});
  if (!scope.ok()) {
    std::fprintf(stderr, "%s\n", scope.status().ToString().c_str());
    return 1;
  }
  for (int r = 0; r < runs; ++r) {
    std::string allow = RandomAllowValue(n, 1000 + r);
    const auto tp = Clock::now();
    const auto lists = ParseLists(allow);  // parsing is not part of the total
    std::string().swap(allow);             // as before parsing was timed: gone when compiling
    const auto t0 = Clock::now();
    const auto policy = gatekeeper::policy::Compile(lists);
    const auto t1 = Clock::now();
    const auto status = (*scope)->ReplacePolicy(policy);
    const auto t2 = Clock::now();
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      return 1;
    }
    entries = policy.size();
    parse_ms.push_back(Ms(t0 - tp));
    compile_ms.push_back(Ms(t1 - t0));
    load_swap_ms.push_back(Ms(t2 - t1));
    total_ms.push_back(Ms(t2 - t0));
  }
  (void)(*engine)->RemoveAll();
  (void)gatekeeper::kernel::RemoveCgroupTree(spec.cgroup_path);
  std::printf("prefixes requested %zu, trie entries %zu, runs %d\n", n, entries, runs);
  Print("compile", compile_ms);
  Print("build tries + swap", load_swap_ms);
  Print("total", total_ms);
  Print("(parse, not in total)", parse_ms);
  return 0;
}
