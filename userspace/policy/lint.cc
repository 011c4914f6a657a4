#include "policy/lint.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <iterator>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/address.h"
#include "policy/compiler.h"

namespace gatekeeper::policy {
namespace {

// This abseil may be built with its own string_view, which StrCat does not take std's for.
absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

std::string Place(const Origin& origin) {
  if (!origin.source.empty()) return origin.source.str();
  if (origin.line <= 0) return origin.file.str();
  return absl::StrCat(AbslView(origin.file.view()), ":", origin.line);
}

bool SameOrigin(const Origin& a, const Origin& b) {
  return a.file == b.file && a.line == b.line && a.key == b.key && a.source == b.source;
}

// Entries built by hand (tests, later sources) may lack the key; the list they sit in tells.
std::string KeyOf(const Entry& entry, Action action) {
  if (!entry.origin.key.empty()) return entry.origin.key.str();
  return action == Action::kAllow ? "IPAddressAllow" : "IPAddressDeny";
}

// "IPAddressAllow=192.0.2.0/24", as the user wrote it.
std::string Setting(const Entry& entry, Action action) {
  return absl::StrCat(KeyOf(entry, action), "=", entry.token);
}

// "IPAddressAllow=192.0.2.0/24 (web.gate:3)", for an entry named in another entry's finding.
std::string Describe(const Entry& entry, Action action) {
  return absl::StrCat(Setting(entry, action), " (", Place(entry.origin), ")");
}

// The entries one token produced: "localhost" stands for an IPv4 and an IPv6 prefix, and is only
// pointless when both halves are.
struct TokenGroup {
  size_t begin = 0;
  size_t count = 1;
};

std::vector<TokenGroup> GroupByToken(const std::vector<Entry>& entries) {
  std::vector<TokenGroup> groups;
  std::vector<Prefix> parsed;
  for (size_t i = 0; i < entries.size();) {
    const Entry& first = entries[i];
    size_t count = 1;
    parsed.clear();
    // Re-parsing tells how many prefixes the token stands for, so that "any any" makes two groups.
    if (ParseToken(first.token, parsed).ok() && parsed.size() > 1 &&
        i + parsed.size() <= entries.size()) {
      bool same = true;
      for (size_t k = 0; k < parsed.size() && same; ++k) {
        const Entry& e = entries[i + k];
        same =
            e.token == first.token && SameOrigin(e.origin, first.origin) && e.prefix == parsed[k];
      }
      if (same) count = parsed.size();
    }
    groups.push_back(TokenGroup{.begin = i, .count = count});
    i += count;
  }
  return groups;
}

// systemd's reduce step over pointers, remembering for each dropped entry the kept one covering
// it. Kept entries are never covered, so that is the broadest cover, and the first assigned
// among equal prefixes.
struct Reduced {
  std::vector<const Entry*> kept;   // sorted by prefix, pairwise disjoint
  std::vector<const Entry*> cover;  // per input entry; null for kept ones
};

Reduced Reduce(const std::vector<const Entry*>& entries) {
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&entries](size_t a, size_t b) {
    const Prefix& pa = entries[a]->prefix;
    const Prefix& pb = entries[b]->prefix;
    if (pa != pb) return pa < pb;
    return a < b;
  });
  Reduced out;
  out.cover.assign(entries.size(), nullptr);
  for (size_t index : order) {
    const Entry* entry = entries[index];
    if (!out.kept.empty() && out.kept.back()->prefix.Covers(entry->prefix)) {
      out.cover[index] = out.kept.back();
      continue;
    }
    out.kept.push_back(entry);
  }
  return out;
}

// The kept entry covering `prefix`, or null. Only the last kept entry sorting at or before it
// can: kept entries are disjoint, so none lies between a prefix and the ones it covers.
const Entry* FindCover(const std::vector<const Entry*>& kept, const Prefix& prefix) {
  auto it = std::upper_bound(kept.begin(), kept.end(), prefix,
                             [](const Prefix& p, const Entry* e) { return p < e->prefix; });
  if (it == kept.begin()) return nullptr;
  const Entry* candidate = *std::prev(it);
  return candidate->prefix.Covers(prefix) ? candidate : nullptr;
}

std::vector<const Entry*> Pointers(const AddressList& list) {
  std::vector<const Entry*> out;
  out.reserve(list.entries().size());
  for (const Entry& entry : list.entries()) out.push_back(&entry);
  return out;
}

// The distinct entries in `covers`, each described once ("any" covers both halves of
// "localhost" but is one setting), joined with "and".
std::string DescribeCovers(const std::vector<const Entry*>& covers, Action action,
                           const AccessLists* host) {
  std::vector<const Entry*> distinct;
  for (const Entry* cover : covers) {
    bool seen = std::any_of(distinct.begin(), distinct.end(), [cover](const Entry* d) {
      return d->token == cover->token && SameOrigin(d->origin, cover->origin);
    });
    if (!seen) distinct.push_back(cover);
  }
  auto in_host = [host](const Entry* entry) {
    if (host == nullptr) return false;
    const std::vector<Entry>& list = host->allow.entries();
    // std::less, unlike <, orders pointers into different arrays.
    return !list.empty() && !std::less<const Entry*>{}(entry, list.data()) &&
           std::less<const Entry*>{}(entry, list.data() + list.size());
  };
  std::vector<std::string> parts;
  parts.reserve(distinct.size());
  for (const Entry* entry : distinct) {
    parts.push_back(absl::StrCat(in_host(entry) ? "the host's " : "", Describe(*entry, action)));
  }
  return absl::StrJoin(parts, " and ");
}

// The IPv4 prefix a mapped one stands for: ::ffff:192.0.2.0/120 is 192.0.2.0/24.
std::string V4Form(const Prefix& mapped) {
  const Address v4 = PeerAsSeenByKernel(mapped.address);
  const int length = mapped.length - 96;
  if (length == 32) return v4.ToString();
  return absl::StrCat(v4.ToString(), "/", length);
}

bool IsV4MappedPrefix(const Prefix& prefix) {
  return prefix.length >= 96 && prefix.address.IsV4Mapped();
}

// Checks one list of a scope, one finding per token at most, the most serious. `allow_kept` is
// the reduced union of the allow lists that apply (the scope's own and `host`'s); null for an
// allow list.
void LintList(const AddressList& list, Action action, const std::vector<const Entry*>* allow_kept,
              const AccessLists* host, std::vector<LintFinding>& out) {
  const std::vector<Entry>& entries = list.entries();
  const Reduced own = Reduce(Pointers(list));
  for (const TokenGroup& group : GroupByToken(entries)) {
    const Entry& first = entries[group.begin];
    auto add = [&](LintSeverity severity, std::string message) {
      out.push_back(
          LintFinding{.severity = severity, .origin = first.origin, .message = std::move(message)});
    };

    // The token has one prefix when it can be mapped: special words are never mapped.
    if (group.count == 1 && IsV4MappedPrefix(first.prefix)) {
      add(LintSeverity::kWarning,
          absl::StrCat(Setting(first, action),
                       " never matches: an IPv4-mapped IPv6 prefix is matched against IPv6 "
                       "packets only, and IPv4 peers, those of dual-stack sockets too, are "
                       "matched as plain IPv4; write ",
                       V4Form(first.prefix), " instead"));
      continue;
    }

    std::vector<const Entry*> covers;
    if (allow_kept != nullptr) {
      for (size_t k = 0; k < group.count; ++k) {
        const Entry* cover = FindCover(*allow_kept, entries[group.begin + k].prefix);
        if (cover == nullptr) break;
        covers.push_back(cover);
      }
      if (covers.size() == group.count) {
        add(LintSeverity::kWarning,
            absl::StrCat(Setting(first, action), " never takes effect: it lies within ",
                         DescribeCovers(covers, Action::kAllow, host),
                         ", and an allow entry wins over a deny entry"));
        continue;
      }
    }

    covers.clear();
    for (size_t k = 0; k < group.count; ++k) {
      const Entry* cover = own.cover[group.begin + k];
      if (cover == nullptr) break;
      covers.push_back(cover);
    }
    if (covers.size() == group.count) {
      add(LintSeverity::kNote,
          absl::StrCat(Setting(first, action), " has no effect: already covered by ",
                       DescribeCovers(covers, action, nullptr)));
    }
  }
}

}  // namespace

std::string LintFinding::Where() const { return Place(origin); }

const char* LintFinding::SeverityName() const {
  return severity == LintSeverity::kWarning ? "warning" : "note";
}

std::vector<LintFinding> LintHostLists(const AccessLists& host) {
  std::vector<LintFinding> out;
  const CompiledPolicy policy = Compile(host);
  // Deciding entries with the addresses they deny; "any" decides both and is reported once.
  std::vector<std::pair<const Entry*, std::vector<std::string>>> denials;
  for (const char* text : {"127.0.0.1", "::1"}) {
    const Verdict verdict = Evaluate(policy, *Address::Parse(text));
    if (verdict.action != Action::kDeny || verdict.rule == nullptr) continue;
    const Entry& entry = *verdict.rule->entry;
    auto it = std::find_if(denials.begin(), denials.end(), [&entry](const auto& d) {
      return d.first->token == entry.token && SameOrigin(d.first->origin, entry.origin);
    });
    if (it == denials.end()) {
      denials.emplace_back(&entry, std::vector<std::string>{});
      it = std::prev(denials.end());
    }
    it->second.emplace_back(text);
  }
  out.reserve(denials.size());
  for (const auto& [entry, addresses] : denials) {
    out.push_back(LintFinding{
        .severity = LintSeverity::kWarning,
        .origin = entry->origin,
        .message = absl::StrCat(
            Setting(*entry, Action::kDeny), " cuts the host off from loopback (",
            absl::StrJoin(addresses, " and "),
            "): the host lists apply to every process outside the gates, so local services "
            "cannot reach each other; add IPAddressAllow=localhost")});
  }
  return out;
}

std::vector<LintFinding> LintEntries(const AccessLists& lists, const AccessLists* host) {
  std::vector<LintFinding> out;

  std::vector<const Entry*> allows = Pointers(lists.allow);
  if (host != nullptr) {
    // After the gate's own, so that among equal prefixes the finding names the gate's entry.
    for (const Entry& entry : host->allow.entries()) allows.push_back(&entry);
  }
  const Reduced allow = Reduce(allows);

  LintList(lists.allow, Action::kAllow, nullptr, nullptr, out);
  LintList(lists.deny, Action::kDeny, &allow.kept, host, out);

  if (host != nullptr && !lists.allow.empty() && lists.deny.empty() && host->deny.empty()) {
    const Entry& first = lists.allow.entries().front();
    out.push_back(LintFinding{
        .severity = LintSeverity::kWarning,
        .origin = first.origin,
        .message = absl::StrCat(
            KeyOf(first, Action::kAllow),
            "= has no effect without any IPAddressDeny= entry (here or in the host lists): "
            "whatever no deny entry matches passes anyway; add IPAddressDeny=any to admit only "
            "the allowed addresses")});
  }

  // Allow and deny lines interleaved as written. A gate's drop-ins (NAME.gate.d/*.conf) sort
  // after NAME.gate and among themselves in the order they apply, so file names sort right too.
  std::stable_sort(out.begin(), out.end(), [](const LintFinding& a, const LintFinding& b) {
    return std::tie(a.origin.file, a.origin.line) < std::tie(b.origin.file, b.origin.line);
  });
  return out;
}

}  // namespace gatekeeper::policy
