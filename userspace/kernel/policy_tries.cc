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
                                   absl::string_view scope, const char* family) {
  GK_RETURN_IF_ERROR(CheckFits(entries, scope, family));
  // Must match the inner-map template in gate.bpf.c exactly, or the outer map refuses it.
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "gk_policy", sizeof(Key), sizeof(gk_rule_value),
                             GK_MAX_PREFIXES, &opts));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("scope ", scope, ": create ", family, " trie"));
  if (entries.empty()) return fd;

  std::vector<Key> keys(entries.size());
  std::vector<gk_rule_value> values(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    keys[i].prefixlen = entries[i].prefix.length;
    std::memcpy(keys[i].addr, entries[i].prefix.address.bytes.data(), kAddrBytes);
    values[i].rule_id = entries[i].rule_id;
    values[i].verdict =
        entries[i].action == policy::Action::kAllow ? GK_VERDICT_ALLOW : GK_VERDICT_DENY;
  }
  // The compiler hands entries sorted by address, the order in which the trie loads fastest.
  __u32 count = entries.size();
  // elem_flags stays 0: the generic batch path accepts no flag but BPF_F_LOCK.
  LIBBPF_OPTS(bpf_map_batch_opts, batch_opts);
  if (bpf_map_update_batch(fd.get(), keys.data(), values.data(), &count, &batch_opts) == 0) {
    return fd;
  }
  const int err = errno;
  if (err != EINVAL && err != EOPNOTSUPP && err != kKernelEnotsupp) {
    return ErrnoStatus(err, absl::StrCat("scope ", scope, ": load ", entries.size(), " ", family,
                                         " prefixes (", count, " loaded)"));
  }
  // Kernels without batch support for LPM tries: one element at a time. The count is not
  // reliable when the call was refused outright, so start over (updates are idempotent).
  for (size_t i = 0; i < entries.size(); ++i) {
    if (bpf_map_update_elem(fd.get(), &keys[i], &values[i], BPF_ANY) != 0) {
      return ErrnoStatus(errno, absl::StrCat("scope ", scope, ": load ", family, " prefix ",
                                             entries[i].prefix.ToString()));
    }
  }
  return fd;
}

}  // namespace

absl::Status CheckPolicyFits(const policy::CompiledPolicy& policy, absl::string_view scope) {
  GK_RETURN_IF_ERROR(CheckFits(policy.v4, scope, "IPv4"));
  return CheckFits(policy.v6, scope, "IPv6");
}

absl::StatusOr<PolicyTries> BuildPolicyTries(const policy::CompiledPolicy& policy,
                                             absl::string_view scope) {
  PolicyTries tries;
  auto v4 = BuildTrie<gk_lpm_v4_key, 4>(policy.v4, scope, "IPv4");
  if (!v4.ok()) return v4.status();
  auto v6 = BuildTrie<gk_lpm_v6_key, 16>(policy.v6, scope, "IPv6");
  if (!v6.ok()) return v6.status();
  tries.v4 = *std::move(v4);
  tries.v6 = *std::move(v6);
  return tries;
}

}  // namespace gatekeeper::kernel
