// gk-bench-prefixes: one deterministic access list written for gatekeeper, nft and iptables, so
// the three filters are benchmarked on the same set.
//   gk-bench-prefixes --count N --format gate|nft|iptables|list [--seed S=1]
//                     [--client ADDR=192.0.2.2] [--ports P1,P2=9000,5201]
// The set is N-1 random IPv4 prefixes of /16../32 plus the client's /32, written last so that a
// linear rule chain reaches it at full depth. No two entries overlap (an LPM trie and a linear
// chain then give the same verdict) and none touches the client or the documentation,
// "this network", loopback, multicast and reserved ranges, so the set never lets in anything
// else the benchmark uses. Longer prefixes are likelier (weight 2^((len-16)/2)): every length
// appears, yet a million entries cover only about 6% of the space, so few candidates collide.
// Exit 2: usage error, 1: runtime failure.
#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "bench_cli.h"

namespace {

constexpr size_t kMaxCount = 4000000;  // beyond this the random set gets too dense to fill
constexpr size_t kPerGateLine = 1000;
constexpr size_t kPerNftLine = 64;

// Weight of /16 + k, 1000 * 2^(k/2) rounded: integers keep the output the same everywhere.
constexpr uint32_t kLengthWeights[17] = {1000,  1414,  2000,   2828,   4000,  5657,
                                         8000,  11314, 16000,  22627,  32000, 45255,
                                         64000, 90510, 128000, 181019, 256000};

[[noreturn]] void Usage(const std::string& message) {
  std::fprintf(stderr,
               "gk-bench-prefixes: %s\nusage: gk-bench-prefixes --count N "
               "--format gate|nft|iptables|list [--seed S=1] [--client ADDR=192.0.2.2] "
               "[--ports P1,P2=9000,5201]\n",
               message.c_str());
  std::exit(2);
}

struct Prefix {
  uint32_t addr;  // host order, host bits zero
  uint8_t len;
  uint32_t last() const { return len == 0 ? ~0u : addr | (len == 32 ? 0u : ~0u >> len); }
  bool operator<(const Prefix& o) const { return addr != o.addr ? addr < o.addr : len < o.len; }
};

Prefix MakePrefix(uint32_t addr, int len) {
  const uint32_t mask = len == 0 ? 0u : ~0u << (32 - len);
  return {addr & mask, static_cast<uint8_t>(len)};
}

// `sorted` holds disjoint prefixes by address. Prefixes either nest or are disjoint, so only the
// neighbours of c's position can overlap it.
bool Overlaps(const std::vector<Prefix>& sorted, const Prefix& c) {
  auto it = std::upper_bound(sorted.begin(), sorted.end(), c.addr,
                             [](uint32_t a, const Prefix& p) { return a < p.addr; });
  if (it != sorted.begin() && std::prev(it)->last() >= c.addr) return true;
  return it != sorted.end() && it->addr <= c.last();
}

struct Candidate {
  Prefix prefix;
  uint32_t order;  // draw order, to choose among survivors without favouring low addresses
};

std::vector<Prefix> RandomPrefixes(size_t target, uint32_t seed,
                                   const std::vector<Prefix>& reserved) {
  std::mt19937 rng(seed);
  uint32_t total_weight = 0;
  for (uint32_t w : kLengthWeights) total_weight += w;
  std::vector<Prefix> kept;
  kept.reserve(target);
  int fruitless_rounds = 0;
  while (kept.size() < target) {
    const size_t need = target - kept.size();
    std::vector<Candidate> candidates;
    const size_t draws = need + need / 4 + 16;
    candidates.reserve(draws);
    for (size_t i = 0; i < draws; ++i) {
      uint32_t pick = rng() % total_weight;
      int len = 16;
      while (pick >= kLengthWeights[len - 16]) pick -= kLengthWeights[len++ - 16];
      const Prefix p = MakePrefix(rng(), len);
      if (!Overlaps(reserved, p)) candidates.push_back({p, static_cast<uint32_t>(i)});
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.prefix < b.prefix; });
    // In (address, length) order a candidate can only lie inside the last one accepted.
    std::vector<Candidate> accepted;
    for (const Candidate& c : candidates) {
      if (!accepted.empty() && c.prefix.addr <= accepted.back().prefix.last()) continue;
      if (!Overlaps(kept, c.prefix)) accepted.push_back(c);
    }
    if (accepted.size() > need) {
      std::sort(accepted.begin(), accepted.end(),
                [](const Candidate& a, const Candidate& b) { return a.order < b.order; });
      accepted.resize(need);
      std::sort(accepted.begin(), accepted.end(),
                [](const Candidate& a, const Candidate& b) { return a.prefix < b.prefix; });
    }
    if (accepted.empty() && ++fruitless_rounds > 100) {
      std::fprintf(stderr, "gk-bench-prefixes: found only %zu free prefixes of %zu\n", kept.size(),
                   target);
      std::exit(1);
    }
    std::vector<Prefix> merged;
    merged.reserve(target);
    std::vector<Prefix> fresh;
    fresh.reserve(accepted.size());
    for (const Candidate& c : accepted) fresh.push_back(c.prefix);
    std::merge(kept.begin(), kept.end(), fresh.begin(), fresh.end(), std::back_inserter(merged));
    kept.swap(merged);
  }
  return kept;
}

void AppendPrefix(std::string* out, const Prefix& p) {
  char text[20];
  char* end = text;
  for (int shift = 24; shift >= 0; shift -= 8) {
    end = std::to_chars(end, text + sizeof(text), (p.addr >> shift) & 255).ptr;
    *end++ = shift > 0 ? '.' : '/';
  }
  end = std::to_chars(end, text + sizeof(text), p.len).ptr;
  out->append(text, end);
}

// The entries, separated by `separator`, `per_line` to a line, each line wrapped in prefix and
// suffix.
void AppendLines(std::string* out, const std::vector<Prefix>& entries, size_t per_line,
                 absl::string_view line_prefix, absl::string_view separator,
                 absl::string_view line_suffix) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i % per_line == 0) absl::StrAppend(out, line_prefix);
    AppendPrefix(out, entries[i]);
    const bool line_end = i + 1 == entries.size() || (i + 1) % per_line == 0;
    absl::StrAppend(out, line_end ? line_suffix : separator);
  }
}

}  // namespace

int main(int argc, char** argv) {
  size_t count = 0;
  uint32_t seed = 1;
  std::string client_text = "192.0.2.2";
  std::string ports_text = "9000,5201";
  std::string format;
  for (int i = 1; i < argc; ++i) {
    if (absl::string_view(argv[i]) == "--help" || absl::string_view(argv[i]) == "-h") {
      Usage("benchmark access-list generator");
    }
    absl::string_view arg;
    absl::string_view value;
    if (!gatekeeper::bench::TakeOption(argc, argv, i, arg, value)) {
      Usage(absl::StrCat(arg, " needs a value"));
    }
    const std::string bad = absl::StrCat(arg, " \"", value, "\": ");
    if (arg == "--count") {
      if (!absl::SimpleAtoi(value, &count) || count < 1 || count > kMaxCount) {
        Usage(absl::StrCat(bad, "expected an integer in 1..", kMaxCount));
      }
    } else if (arg == "--seed") {
      if (!absl::SimpleAtoi(value, &seed)) Usage(bad + "expected an integer in 0..4294967295");
    } else if (arg == "--client") {
      client_text = std::string(value);
    } else if (arg == "--ports") {
      ports_text = std::string(value);
    } else if (arg == "--format") {
      format = std::string(value);
      if (format != "gate" && format != "nft" && format != "iptables" && format != "list") {
        Usage(bad + "expected gate, nft, iptables or list");
      }
    } else {
      Usage(absl::StrCat("unknown option \"", arg, "\""));
    }
  }
  if (count == 0) Usage("--count is required");
  if (format.empty()) Usage("--format is required");

  in_addr client_addr{};
  if (inet_pton(AF_INET, client_text.c_str(), &client_addr) != 1) {
    Usage(absl::StrCat("--client \"", client_text, "\": expected a numeric IPv4 address"));
  }
  const Prefix client = MakePrefix(ntohl(client_addr.s_addr), 32);

  std::vector<uint16_t> ports;
  for (absl::string_view part : absl::StrSplit(ports_text, ',')) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(part, &port) || port == 0 || port > 65535 ||
        std::find(ports.begin(), ports.end(), port) != ports.end()) {
      Usage(absl::StrCat("--ports \"", ports_text, "\": \"", part,
                         "\" is not a new port in 1..65535"));
    }
    ports.push_back(static_cast<uint16_t>(port));
  }
  // iptables' multiport match takes at most 15.
  if (ports.size() > 15) Usage(absl::StrCat("--ports \"", ports_text, "\": at most 15 ports"));

  std::vector<Prefix> reserved = {MakePrefix(0x00000000, 8),  MakePrefix(0x7f000000, 8),
                                  MakePrefix(0xc0000200, 24), MakePrefix(0xc6336400, 24),
                                  MakePrefix(0xcb007100, 24), MakePrefix(0xe0000000, 3)};
  std::sort(reserved.begin(), reserved.end());
  // Overlaps() needs disjoint entries; the default client lies inside 192.0.2.0/24 already.
  if (!Overlaps(reserved, client)) {
    reserved.insert(std::upper_bound(reserved.begin(), reserved.end(), client), client);
  }

  std::vector<Prefix> entries = RandomPrefixes(count - 1, seed, reserved);
  entries.push_back(client);

  std::string out;
  out.reserve(entries.size() * 32 + 1024);
  if (format == "list") {
    AppendLines(&out, entries, 1, "", "", "\n");
  } else if (format == "gate") {
    AppendLines(&out, entries, kPerGateLine, "IPAddressAllow=", " ", "\n");
  } else if (format == "nft") {
    std::string port_set;
    for (uint16_t port : ports) absl::StrAppend(&port_set, port_set.empty() ? "" : ", ", port);
    // Declaring the table first makes the delete valid when it does not exist yet; the file is
    // one transaction, so the old table is replaced atomically.
    absl::StrAppend(&out,
                    "table inet gkbench\ndelete table inet gkbench\n"
                    "table inet gkbench {\n  set allow4 {\n    type ipv4_addr\n"
                    "    flags interval\n    elements = {\n");
    AppendLines(&out, entries, kPerNftLine, "      ", ", ", ",\n");
    out.resize(out.size() - 2);  // a trailing comma before } is not accepted by every nft
    // Both directions, as IPAddressAllow= and gatekeeper filter both: the service's replies go
    // only to allowed peers.
    absl::StrAppend(&out, "\n    }\n  }\n  chain input {\n",
                    "    type filter hook input priority filter; policy accept;\n",
                    "    tcp dport { ", port_set, " } ip saddr @allow4 accept\n",
                    "    tcp dport { ", port_set, " } drop\n  }\n");
    absl::StrAppend(&out, "  chain output {\n",
                    "    type filter hook output priority filter; policy accept;\n",
                    "    tcp sport { ", port_set, " } ip daddr @allow4 accept\n",
                    "    tcp sport { ", port_set, " } drop\n  }\n}\n");
  } else {
    std::string port_list;
    for (uint16_t port : ports) absl::StrAppend(&port_list, port_list.empty() ? "" : ",", port);
    // Both directions, as for nft: a chain per direction, each N rules long.
    absl::StrAppend(&out, "*filter\n:GKBENCH - [0:0]\n:GKBENCHOUT - [0:0]\n",
                    "-A INPUT -p tcp -m multiport --dports ", port_list, " -j GKBENCH\n",
                    "-A OUTPUT -p tcp -m multiport --sports ", port_list, " -j GKBENCHOUT\n");
    AppendLines(&out, entries, 1, "-A GKBENCH -s ", "", " -j ACCEPT\n");
    absl::StrAppend(&out, "-A GKBENCH -j DROP\n");
    AppendLines(&out, entries, 1, "-A GKBENCHOUT -d ", "", " -j ACCEPT\n");
    absl::StrAppend(&out, "-A GKBENCHOUT -j DROP\nCOMMIT\n");
  }
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "gk-bench-prefixes: writing stdout: %s\n", std::strerror(errno));
    return 1;
  }
  return 0;
}
