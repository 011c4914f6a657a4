// One filtering scope in the kernel: the host, or one gate's socket or service cgroup. It owns
// the scope's links and maps (as fds) and its pins; the programs live as long as the links.
#ifndef GATEKEEPER_KERNEL_SCOPE_H_
#define GATEKEEPER_KERNEL_SCOPE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "policy/compiler.h"

struct gk_config;  // gate_abi.h

namespace gatekeeper::kernel {

enum class Direction : uint8_t { kIngress = 0, kEgress = 1 };

struct EventLimit {
  uint32_t burst = 20;  // denial events per interval and scope; the rest are counted, not sent
  absl::Duration interval = absl::Seconds(1);
};

struct ScopeSpec {
  std::string name;         // unique in the engine; names the pin directory and errors
  uint32_t id = 0;          // carried by this scope's denial events
  std::string cgroup_path;  // absolute path in the cgroup v2 mount; created when missing
  // Host scope: sockets under `gates_cgroup_path` are only counted; their gates decide.
  bool host = false;
  std::string gates_cgroup_path;
  // Gate scope: accept ingress only from this device; 0 = the device is away (nothing gets in).
  std::optional<uint32_t> bound_ifindex;
  EventLimit events;
  // A family's allowed peers are cached while the policy has at least this many prefixes in that
  // family: below it, a trie walk costs less than a hash lookup (see gk-prog-cost).
  size_t allow_cache_min_prefixes = 1024;
};

struct Counter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

struct ScopeStats {
  std::array<Counter, 2> allowed;  // by Direction
  std::array<Counter, 2> denied;
  std::array<Counter, 2> delegated;  // host scope: gate sockets' traffic, left to the gates
  uint64_t events_sent = 0;
  uint64_t events_suppressed = 0;
  uint64_t events_lost = 0;
  // Egress bare TCP resets to denied peers, let out (not counted as denied): they end the
  // connections a reload cut off (see DestroyTcpSockets).
  Counter rst_passed;
};

class Scope {
 public:
  // Loads the programs, installs `policy`, attaches to the cgroup and pins everything under
  // `pin_dir`. On error nothing stays attached or pinned.
  static absl::StatusOr<Scope> Create(const ScopeSpec& spec, const policy::CompiledPolicy& policy,
                                      int events_fd, const std::string& cgroup2_mount,
                                      const std::string& pin_dir);
  // Takes over the pins a previous daemon left in `pin_dir`, after checking that both links are
  // still attached to the spec's cgroup. The policy in place stays until ReplacePolicy.
  static absl::StatusOr<Scope> Adopt(const ScopeSpec& spec, const std::string& cgroup2_mount,
                                     const std::string& pin_dir);

  Scope(Scope&&) noexcept = default;
  Scope& operator=(Scope&&) noexcept = default;

  const std::string& name() const { return spec_.name; }
  const ScopeSpec& spec() const { return spec_; }
  uint64_t cgroup_id() const { return cgroup_id_; }
  // The generation of the policy in place: CLOCK_BOOTTIME nanoseconds when it was issued.
  uint64_t policy_generation() const { return policy_generation_; }

  // Builds the new tries fully, then swaps each family's trie in with one outer-map slot update:
  // every packet is judged by the old policy or the new one, never by none or both. Then the new
  // generation goes into the config, which voids every cached verdict; the caches themselves are
  // replaced by empty ones first. On error the old policy stays in place.
  absl::Status ReplacePolicy(const policy::CompiledPolicy& policy);
  absl::Status SetBoundDevice(std::optional<uint32_t> ifindex);

  absl::StatusOr<ScopeStats> ReadStats() const;
  // Pins again what was removed from bpffs behind our back (the paths it re-created): without
  // its pins a scope's links die with the daemon, and a crash would then fail open.
  absl::StatusOr<std::vector<std::string>> RepairPins() const;
  // Ids of this scope's two programs, to tell ours from foreign ones on a cgroup path.
  // Read once from the links when the scope is made (a link's program never changes): the
  // engine asks for every scope's ids each time it attaches one.
  std::vector<uint32_t> ProgramIds() const { return {program_ids_[0], program_ids_[1]}; }
  // A new fd of the program behind a link (for BPF_PROG_TEST_RUN).
  absl::StatusOr<common::UniqueFd> ProgramFd(Direction direction) const;

  // Detaches and unpins. Only call when no socket of the scope's cgroup lives on: a socket
  // outlives its cgroup, and after this it would no longer be filtered.
  absl::Status Remove();

 private:
  Scope() = default;
  absl::Status WriteConfig(const std::string& cgroup2_mount);
  // Read-modify-write of the config map; `what` names the step in errors.
  absl::Status UpdateConfig(const std::function<void(gk_config&)>& modify, absl::string_view what);
  // Swaps in an empty allow cache per family where `on` says so, and removes the others.
  absl::Status ResetAllowCaches(const std::array<bool, 2>& on);
  // Every object pinned in the scope's directory, by pin name.
  std::vector<std::pair<const char*, int>> Pinned() const;

  ScopeSpec spec_;
  std::string pin_dir_;
  uint64_t cgroup_id_ = 0;
  common::UniqueFd ingress_link_;
  common::UniqueFd egress_link_;
  common::UniqueFd policy_v4_;
  common::UniqueFd policy_v6_;
  common::UniqueFd allow_cache_v4_;  // outer maps: one slot each, see gate.bpf.c
  common::UniqueFd allow_cache_v6_;
  common::UniqueFd config_;
  common::UniqueFd stats_;
  // The generation of the policy in place (gk_config.policy_generation); 0 before the first.
  uint64_t policy_generation_ = 0;
  std::array<uint32_t, 2> program_ids_{};  // ingress, egress
  absl::Status ReadProgramIds();
  bool allow_cache_ = false;  // GK_CFG_ALLOW_CACHE, as in the config map
};

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_SCOPE_H_
