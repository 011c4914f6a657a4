// A cgroup v2 directory a scope's programs attach to.
#ifndef GATEKEEPER_KERNEL_CGROUP_H_
#define GATEKEEPER_KERNEL_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace gatekeeper::kernel {

class Cgroup {
 public:
  // Opens an existing cgroup directory (an absolute path inside the cgroup v2 mount).
  static absl::StatusOr<Cgroup> Open(const std::string& path);
  // Creates the directory and any missing parents, then opens it. Existing ones are fine;
  // `created` (when given) tells whether the directory itself was made by this call.
  static absl::StatusOr<Cgroup> CreateOrOpen(const std::string& path, bool* created = nullptr);

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  // The kernel's cgroup id: the directory's inode number on cgroup v2.
  uint64_t id() const { return id_; }

  // Moves a process (0: the caller) into this cgroup.
  absl::Status AddProcess(pid_t pid) const;
  // Kills every process inside, descendants included (SIGKILL; they are gone once WaitEmpty
  // says so).
  absl::Status KillAll() const;
  // Waits until no process is left inside (cgroup.events "populated 0"), woken by the kernel's
  // change notification on that file; DeadlineExceeded after `timeout`.
  absl::Status WaitEmpty(absl::Duration timeout) const;

  // Extended attributes of the directory; they live exactly as long as the cgroup. Names in the
  // "trusted." namespace can be set and read only with CAP_SYS_ADMIN, so an unprivileged user
  // cannot forge or see them.
  absl::Status SetXattr(const std::string& name, const std::string& value) const;
  // False when the attribute is not set.
  absl::StatusOr<bool> HasXattr(const std::string& name) const;

 private:
  Cgroup(std::string path, common::UniqueFd fd, uint64_t id)
      : path_(std::move(path)), fd_(std::move(fd)), id_(id) {}

  std::string path_;
  common::UniqueFd fd_;
  uint64_t id_ = 0;
};

// rmdir of a cgroup and, depth first, of its children. NotFound is not an error. Processes still
// inside make it fail with FailedPrecondition naming the directory.
absl::Status RemoveCgroupTree(const std::string& path);

// The direct child cgroups of `path` (full paths, sorted); empty when `path` does not exist.
std::vector<std::string> ChildCgroups(const std::string& path);

// Depth of `path` below `cgroup2_mount` (the root is level 0), as bpf_skb_ancestor_cgroup_id
// counts it. InvalidArgument when `path` is not inside the mount.
absl::StatusOr<uint32_t> CgroupLevel(const std::string& cgroup2_mount, const std::string& path);

// The cgroup v2 path of a process: the cgroup2 mount joined with the "0::" line of
// /proc/<pid>/cgroup (0: the caller).
absl::StatusOr<std::string> CgroupOfProcess(const std::string& cgroup2_mount, pid_t pid);

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_CGROUP_H_
