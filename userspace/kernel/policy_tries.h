// Builds the LPM tries of a compiled policy off to the side, ready to be swapped in.
#ifndef GATEKEEPER_KERNEL_POLICY_TRIES_H_
#define GATEKEEPER_KERNEL_POLICY_TRIES_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/unique_fd.h"
#include "policy/compiler.h"

namespace gatekeeper::kernel {

struct PolicyTries {
  common::UniqueFd v4;
  common::UniqueFd v6;
};

// Creates one trie per family and fills it with sorted batch updates; every value carries
// `generation` (see gk_config.policy_generation). `scope` names the scope in errors, e.g. when
// the policy holds more prefixes than a trie takes (GK_MAX_PREFIXES).
absl::StatusOr<PolicyTries> BuildPolicyTries(const policy::CompiledPolicy& policy,
                                             uint64_t generation, absl::string_view scope);

// An empty allow cache for IPv4 (or IPv6) to swap in with a new policy (see gate.bpf.c).
absl::StatusOr<common::UniqueFd> CreateAllowCache(absl::string_view scope, bool ipv6);

// The check BuildPolicyTries makes first, on its own: a reload refuses a policy that cannot fit
// before it changes anything.
absl::Status CheckPolicyFits(const policy::CompiledPolicy& policy, absl::string_view scope);

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_POLICY_TRIES_H_
