// What the gate program costs per packet, measured in the kernel with BPF_PROG_TEST_RUN (root
// only; nothing is attached, so no traffic is touched). The policy is N random IPv4 prefixes
// (/16../32) plus the probe's /32, matched at full depth, behind IPAddressDeny=any.
//
// Three figures per N:
//   walk           allow cache off, repeat = 1000: a trie walk per packet (CPU caches warm: the
//                  same address every time, so a lower bound of a walk in real traffic)
//   first packet   allow cache on, the probe removed from it before each run, repeat = 1: the
//                  walk plus adding the peer to the cache
//   later packets  allow cache on, repeat = 1000: a cache hit (one walk spread over 1000 packets)
// Prints one line per N: median and min-max of `runs` measurements, in ns per packet.
//   gk-prog-cost [--prefixes 1,1000,100000,1000000] [--runs 15]
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gate_abi.h"
#include "kernel/gate_skeleton.h"
#include "kernel/policy_tries.h"
#include "policy/compiler.h"
#include "tests/bench/bench_cli.h"
#include "tests/integration/packets.h"

namespace {

using gatekeeper::kernel::GateSkeleton;

constexpr char kProbe[] = "192.0.2.2";

gatekeeper::policy::CompiledPolicy RandomPolicy(size_t n) {
  std::mt19937 rng(1);
  std::string allow;
  allow.reserve(n * 20);
  for (size_t i = 0; i + 1 < n; ++i) {
    const uint32_t a = rng();
    absl::StrAppend(&allow, a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".", a & 255, "/",
                    16 + rng() % 17, " ");
  }
  absl::StrAppend(&allow, kProbe);
  gatekeeper::policy::AccessLists lists;
  (void)lists.allow.Assign(allow, {.file = "bench.gate", .line = 1, .key = "IPAddressAllow"});
  (void)lists.deny.Assign("any", {.file = "bench.gate", .line = 2, .key = "IPAddressDeny"});
  return gatekeeper::policy::Compile(lists);
}

// Median and range of `runs` test runs of `repeat` packets, in ns per packet; `before` runs
// before each test run.
bool Measure(
    int prog_fd, const std::vector<uint8_t>& packet, int repeat, int runs, std::vector<double>* out,
    const std::function<bool()>& before = [] { return true; }) {
  for (int r = 0; r < runs; ++r) {
    if (!before()) return false;
    __sk_buff ctx{};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(),
                .data_size_in = static_cast<__u32>(packet.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof(ctx), .repeat = repeat);
    if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
      std::fprintf(stderr, "gk-prog-cost: BPF_PROG_TEST_RUN: %s\n", std::strerror(errno));
      return false;
    }
    if (opts.retval != 1) {
      std::fprintf(stderr, "gk-prog-cost: the probe packet was dropped (verdict %u)\n",
                   opts.retval);
      return false;
    }
    out->push_back(opts.duration);  // the kernel's average per repetition, in ns
  }
  std::sort(out->begin(), out->end());
  return true;
}

std::string Summary(const std::vector<double>& v) {
  return absl::StrCat(v[v.size() / 2], " (", v.front(), "-", v.back(), ")");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> counts = {1, 1000, 100000, 1000000};
  int runs = 15;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg;
    absl::string_view value;
    if (!gatekeeper::bench::TakeOption(argc, argv, i, arg, value)) {
      std::fprintf(stderr, "gk-prog-cost: %s needs a value\n", argv[i]);
      return 2;
    }
    if (arg == "--prefixes") {
      counts.clear();
      for (absl::string_view s : absl::StrSplit(value, ',')) {
        size_t n;
        if (!absl::SimpleAtoi(s, &n) || n == 0) {
          std::fprintf(stderr, "gk-prog-cost: bad prefix count '%s'\n", std::string(s).c_str());
          return 2;
        }
        counts.push_back(n);
      }
    } else if (arg == "--runs") {
      if (!absl::SimpleAtoi(value, &runs) || runs < 1) {
        std::fprintf(stderr, "gk-prog-cost: bad --runs\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "gk-prog-cost: unknown option %s\n", std::string(arg).c_str());
      return 2;
    }
  }

  GateSkeleton skel(gate__open_and_load());
  if (!skel) {
    std::fprintf(stderr, "gk-prog-cost: load the gate programs: %s\n", std::strerror(errno));
    return 1;
  }
  gatekeeper::testing::PacketSpec spec{.src = kProbe, .dst = "192.0.2.1", .tcp_flags = 0x10};
  const std::vector<uint8_t> packet = gatekeeper::testing::BuildPacket(spec);
  std::printf("prefixes\twalk_ns\tfirst_packet_ns\tlater_packets_ns\n");
  uint64_t generation = 0;
  for (const size_t n : counts) {
    auto tries = gatekeeper::kernel::BuildPolicyTries(RandomPolicy(n), ++generation, "bench");
    if (!tries.ok()) {
      std::fprintf(stderr, "gk-prog-cost: %s\n", tries.status().ToString().c_str());
      return 1;
    }
    const __u32 zero = 0;
    int fd = tries->v4.get();
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.policy_v4), &zero, &fd, BPF_ANY) != 0) {
      std::fprintf(stderr, "gk-prog-cost: install the policy: %s\n", std::strerror(errno));
      return 1;
    }
    const int prog = bpf_program__fd(skel->progs.gk_ingress);
    // An allow cache in the IPv4 slot, and a way to forget the probe: the first-packet runs then
    // add it again, into a cache whose allocator is warm, as for a new peer in steady state.
    auto cache = gatekeeper::kernel::CreateAllowCache("bench", /*ipv6=*/false);
    int cache_fd = cache.ok() ? cache->get() : -1;
    if (!cache.ok() || bpf_map_update_elem(bpf_map__fd(skel->maps.allow_cache_v4), &zero, &cache_fd,
                                           BPF_ANY) != 0) {
      std::fprintf(stderr, "gk-prog-cost: install an allow cache: %s\n", std::strerror(errno));
      return 1;
    }
    auto forget_probe = [&] {
      in_addr probe{};
      ::inet_pton(AF_INET, kProbe, &probe);
      if (bpf_map_delete_elem(cache_fd, &probe) != 0 && errno != ENOENT) {
        std::fprintf(stderr, "gk-prog-cost: empty the allow cache: %s\n", std::strerror(errno));
        return false;
      }
      return true;
    };
    std::vector<double> walk;
    std::vector<double> first;
    std::vector<double> later;
    for (const bool cache : {false, true}) {
      const gk_config cfg{.flags = cache ? GK_CFG_ALLOW_CACHE : 0u,
                          .policy_generation = generation};
      if (bpf_map_update_elem(bpf_map__fd(skel->maps.config), &zero, &cfg, BPF_ANY) != 0) {
        std::fprintf(stderr, "gk-prog-cost: write the config: %s\n", std::strerror(errno));
        return 1;
      }
      if (!(cache ? Measure(prog, packet, 1, runs, &first, forget_probe) &&
                        Measure(prog, packet, 1000, runs, &later)
                  : Measure(prog, packet, 1000, runs, &walk))) {
        return 1;
      }
    }
    std::printf("%zu\t%s\t%s\t%s\n", n, Summary(walk).c_str(), Summary(first).c_str(),
                Summary(later).c_str());
  }
  return 0;
}
