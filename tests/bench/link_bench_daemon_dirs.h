// The cgroups and the bpffs dir gk-link-bench gives `gatekeeper run`: a cgroup base and a host
// cgroup under the cgroup2 mount and a dir under /sys/fs/bpf, all named after the run. Made new
// before the daemon starts (an existing one is someone else's and stays untouched); after it
// stopped, checked for what it left behind and removed.
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_DAEMON_DIRS_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_DAEMON_DIRS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace gatekeeper::bench {

class DaemonDirs {
 public:
  // Makes `tag` and `tag`-host under the cgroup2 mount; fails when /sys/fs/bpf/`tag` exists.
  absl::Status Make(const std::string& tag);
  // After the daemon stopped: removes what Make() made and what the daemon left below it, and
  // appends to `problems` what should not have been there (gate cgroups, processes, pins).
  void Remove(std::vector<std::string>& problems);

  const std::string& cgroup_base() const { return cgroup_base_; }
  const std::string& host_cgroup() const { return host_cgroup_; }
  const std::string& bpffs_dir() const { return bpffs_dir_; }

 private:
  void RemoveCgroups(std::vector<std::string>& problems);
  void RemoveBpffsDir(std::vector<std::string>& problems);

  std::string cgroup2_mount_, cgroup_base_, host_cgroup_, bpffs_dir_;
  bool made_cgroup_base_ = false, made_host_cgroup_ = false;
};

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_DAEMON_DIRS_H_
