#include "kernel/policy_tries.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "gate_abi.h"

namespace gatekeeper::kernel {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;

// The kernel-internal "not supported" errno that bpf() leaks to userspace; no libc header has it.
constexpr int kKernelEnotsupp = 524;

absl::Status CheckFits(const std::vector<policy::TrieEntry>& entries, absl::string_view scope,
                       const char* family) {
  if (entries.size() > GK_MAX_PREFIXES) {
    return absl::ResourceExhaustedError(
        absl::StrCat("scope ", scope, ": the policy has ", entries.size(), " ", family,
                     " prefixes after merging; a scope holds at most ", GK_MAX_PREFIXES));
  }
  return absl::OkStatus();
}

template <typename Key, size_t kAddrBytes>
absl::StatusOr<UniqueFd> BuildTrie(const std::vector<policy::TrieEntry>& entries,
                                   uint64_t generation, absl::string_view scope,
                                   const char* family) {
  GK_RETURN_IF_ERROR(CheckFits(entries, scope, family));
  // Must match the inner-map template in gate.bpf.c exactly, or the outer map refuses it.
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "gk_policy", sizeof(Key), sizeof(gk_rule_value),
                             GK_MAX_PREFIXES, &opts));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("scope ", scope, ": create ", family, " trie"));

  // The programs need a value for every address (it carries the generation they cache), so
  // "no entry matched: allowed" becomes an explicit /0 entry unless the policy has its own /0.
  const bool has_default =
      !entries.empty() && entries.front().prefix.length == 0;  // sorted: a /0 comes first
  const size_t total = entries.size() + (has_default ? 0 : 1);
  std::vector<Key> keys(total);
  std::vector<gk_rule_value> values(total);
  size_t n = 0;
  if (!has_default) {
    keys[n] = Key{};
    values[n] = gk_rule_value{.rule_id = GK_RULE_NONE, .verdict = GK_VERDICT_ALLOW};
    values[n++].generation = generation;
  }
  for (const policy::TrieEntry& entry : entries) {
    keys[n].prefixlen = entry.prefix.length;
    std::memcpy(keys[n].addr, entry.prefix.address.bytes.data(), kAddrBytes);
    values[n].rule_id = entry.rule_id;
    values[n].verdict = entry.action == policy::Action::kAllow ? GK_VERDICT_ALLOW : GK_VERDICT_DENY;
    values[n++].generation = generation;
  }
  // The compiler hands entries sorted by address, the order in which the trie loads fastest.
  __u32 count = total;
  // elem_flags stays 0: the generic batch path accepts no flag but BPF_F_LOCK.
  LIBBPF_OPTS(bpf_map_batch_opts, batch_opts);
  if (bpf_map_update_batch(fd.get(), keys.data(), values.data(), &count, &batch_opts) == 0) {
    return fd;
  }
  const int err = errno;
  if (err != EINVAL && err != EOPNOTSUPP && err != kKernelEnotsupp) {
    return ErrnoStatus(err, absl::StrCat("scope ", scope, ": load ", total, " ", family,
                                         " prefixes (", count, " loaded)"));
  }
  // Kernels without batch support for LPM tries: one element at a time. The count is not
  // reliable when the call was refused outright, so start over (updates are idempotent).
  for (size_t i = 0; i < total; ++i) {
    if (bpf_map_update_elem(fd.get(), &keys[i], &values[i], BPF_ANY) != 0) {
      return ErrnoStatus(
          errno, absl::StrCat("scope ", scope, ": load ", family, " prefix ", i, " of ", total));
    }
  }
  return fd;
}

}  // namespace

absl::StatusOr<UniqueFd> CreateAllowCache(absl::string_view scope, bool ipv6) {
  // Must match the inner-map template in gate.bpf.c exactly, or the outer map refuses it.
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_HASH, "gk_allow_cache", ipv6 ? 16 : 4, sizeof(__u64),
                             GK_ALLOW_CACHE_ENTRIES, &opts));
  if (!fd) {
    return ErrnoStatus(
        errno, absl::StrCat("scope ", scope, ": create ", ipv6 ? "IPv6" : "IPv4", " allow cache"));
  }
  return fd;
}

absl::Status CheckPolicyFits(const policy::CompiledPolicy& policy, absl::string_view scope) {
  GK_RETURN_IF_ERROR(CheckFits(policy.v4, scope, "IPv4"));
  return CheckFits(policy.v6, scope, "IPv6");
}

absl::StatusOr<PolicyTries> BuildPolicyTries(const policy::CompiledPolicy& policy,
                                             uint64_t generation, absl::string_view scope) {
  PolicyTries tries;
  auto v4 = BuildTrie<gk_lpm_v4_key, 4>(policy.v4, generation, scope, "IPv4");
  if (!v4.ok()) return v4.status();
  auto v6 = BuildTrie<gk_lpm_v6_key, 16>(policy.v6, generation, scope, "IPv6");
  if (!v6.ok()) return v6.status();
  tries.v4 = *std::move(v4);
  tries.v6 = *std::move(v6);
  return tries;
}

}  // namespace gatekeeper::kernel
