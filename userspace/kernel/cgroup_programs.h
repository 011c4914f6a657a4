// The cgroup_skb programs that act on a cgroup's sockets, ours and anyone else's.
#ifndef GATEKEEPER_KERNEL_CGROUP_PROGRAMS_H_
#define GATEKEEPER_KERNEL_CGROUP_PROGRAMS_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernel/scope.h"

namespace gatekeeper::kernel {

struct AttachedProgram {
  uint32_t id = 0;
  std::string name;  // as loaded, e.g. "gk_ingress", "sd_fw_ingress"
  Direction direction = Direction::kIngress;
};

// Every program that runs for sockets of the cgroup at `cgroup_path`, attached there or on any
// ancestor (BPF_PROG_QUERY with BPF_F_QUERY_EFFECTIVE), both directions.
absl::StatusOr<std::vector<AttachedProgram>> EffectivePrograms(const std::string& cgroup_path);

// The programs of `all` whose ids are not in `ours`: they can drop a gate's traffic whatever its
// own lists say, so the daemon warns about them.
std::vector<AttachedProgram> ForeignPrograms(const std::vector<AttachedProgram>& all,
                                             std::span<const uint32_t> ours);

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_CGROUP_PROGRAMS_H_
