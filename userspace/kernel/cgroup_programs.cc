#include "kernel/cgroup_programs.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "kernel/cgroup.h"

namespace gatekeeper::kernel {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;

std::string ProgramName(uint32_t id) {
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  if (!fd) return "?";  // unloaded meanwhile
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return "?";
  return info.name;
}

}  // namespace

absl::StatusOr<std::vector<AttachedProgram>> EffectivePrograms(const std::string& cgroup_path) {
  GK_ASSIGN_OR_RETURN(Cgroup cgroup, Cgroup::Open(cgroup_path));
  std::vector<AttachedProgram> out;
  for (auto [type, dir] : {std::pair{BPF_CGROUP_INET_INGRESS, Direction::kIngress},
                           std::pair{BPF_CGROUP_INET_EGRESS, Direction::kEgress}}) {
    // The count can grow between the two calls; retry with the larger size.
    std::vector<__u32> ids(16);
    for (;;) {
      __u32 count = ids.size();
      if (bpf_prog_query(cgroup.fd(), type, BPF_F_QUERY_EFFECTIVE, nullptr, ids.data(), &count) ==
          0) {
        ids.resize(count);
        break;
      }
      if (errno != ENOSPC) {
        return ErrnoStatus(errno, absl::StrCat("query BPF programs on cgroup ", cgroup_path));
      }
      ids.resize(std::max<size_t>(count, ids.size() * 2));
    }
    for (__u32 id : ids) out.push_back({id, ProgramName(id), dir});
  }
  return out;
}

std::vector<AttachedProgram> ForeignPrograms(const std::vector<AttachedProgram>& all,
                                             std::span<const uint32_t> ours) {
  std::vector<AttachedProgram> foreign;
  for (const AttachedProgram& p : all) {
    if (std::find(ours.begin(), ours.end(), p.id) == ours.end()) foreign.push_back(p);
  }
  return foreign;
}

}  // namespace gatekeeper::kernel
