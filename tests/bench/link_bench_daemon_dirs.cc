#include "tests/bench/link_bench_daemon_dirs.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "tests/bench/link_bench_clock.h"

namespace gatekeeper::bench {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The first cgroup2 mount point in /proc/self/mountinfo ("ID PARENT MAJ:MIN ROOT MOUNTPOINT
// OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS"). On a hybrid machine it is
// /sys/fs/cgroup/unified, on a unified one /sys/fs/cgroup: it is read, never assumed.
absl::StatusOr<std::string> FindCgroup2Mount() {
  for (absl::string_view line : absl::StrSplit(Slurp("/proc/self/mountinfo"), '\n')) {
    const size_t dash = line.find(" - ");
    if (dash == absl::string_view::npos) continue;
    const std::vector<absl::string_view> after = absl::StrSplit(line.substr(dash + 3), ' ');
    if (after.empty() || after[0] != "cgroup2") continue;
    const std::vector<absl::string_view> before = absl::StrSplit(line.substr(0, dash), ' ');
    if (before.size() < 5) continue;
    // The kernel escapes space, tab, newline and backslash as \ooo.
    std::string mount;
    const absl::string_view m = before[4];
    for (size_t i = 0; i < m.size(); ++i) {
      if (m[i] == '\\' && i + 3 < m.size()) {
        mount.push_back(
            static_cast<char>((m[i + 1] - '0') * 64 + (m[i + 2] - '0') * 8 + (m[i + 3] - '0')));
        i += 3;
      } else {
        mount.push_back(m[i]);
      }
    }
    return mount;
  }
  return absl::NotFoundError("no cgroup2 file system in /proc/self/mountinfo");
}

// Subdirectories first, then `dir`: the order in which cgroups can be removed.
void CgroupsPostOrder(const std::filesystem::path& dir, std::vector<std::string>& out) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec)) CgroupsPostOrder(entry.path(), out);
  }
  out.push_back(dir.string());
}

std::string Pids(const std::string& cgroup) {
  std::string procs = Slurp(cgroup + "/cgroup.procs");
  std::replace(procs.begin(), procs.end(), '\n', ' ');
  while (!procs.empty() && procs.back() == ' ') procs.pop_back();
  return procs;
}

// Kills what is in `cgroup` (cgroup.kill, Linux 5.14) and waits up to 5 s for it to empty, woken
// by the kernel's notification on cgroup.events.
bool KillAndWaitEmpty(const std::string& cgroup) {
  if (UniqueFd kill(::open((cgroup + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC)); kill) {
    (void)::write(kill.get(), "1", 1);
  }
  UniqueFd events(::open((cgroup + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
  if (!events) return false;
  const int64_t deadline = NowNs() + 5 * kSecond;
  for (;;) {
    char buf[256];
    const ssize_t n = ::pread(events.get(), buf, sizeof(buf) - 1, 0);
    if (n > 0 && absl::StrContains(absl::string_view(buf, n), "populated 0")) return true;
    const int64_t left_ms = (deadline - NowNs()) / 1'000'000;
    if (left_ms <= 0) return false;
    pollfd p{events.get(), POLLPRI, 0};
    (void)::poll(&p, 1, static_cast<int>(left_ms));
  }
}

}  // namespace

absl::Status DaemonDirs::Make(const std::string& tag) {
  GK_ASSIGN_OR_RETURN(cgroup2_mount_, FindCgroup2Mount());
  cgroup_base_ = absl::StrCat(cgroup2_mount_, "/", tag);
  // The host scope is only attached when gatekeeper.conf has [Host] lists (this config has
  // none), but it gets a cgroup of its own anyway: never the real root of the machine.
  host_cgroup_ = absl::StrCat(cgroup2_mount_, "/", tag, "-host");
  bpffs_dir_ = absl::StrCat("/sys/fs/bpf/", tag);
  std::error_code ec;
  if (std::filesystem::exists(bpffs_dir_, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(bpffs_dir_, " exists (left by an earlier run?)"));
  }
  // mkdir, not "create or open": an existing cgroup is someone else's and stays untouched.
  if (::mkdir(cgroup_base_.c_str(), 0755) != 0) {
    return ErrnoStatus(errno, absl::StrCat("create cgroup ", cgroup_base_));
  }
  made_cgroup_base_ = true;
  if (::mkdir(host_cgroup_.c_str(), 0755) != 0) {
    return ErrnoStatus(errno, absl::StrCat("create cgroup ", host_cgroup_));
  }
  made_host_cgroup_ = true;
  return absl::OkStatus();
}

void DaemonDirs::Remove(std::vector<std::string>& problems) {
  RemoveCgroups(problems);
  RemoveBpffsDir(problems);
}

void DaemonDirs::RemoveCgroups(std::vector<std::string>& problems) {
  std::vector<std::string> cgroups;
  if (made_cgroup_base_) CgroupsPostOrder(cgroup_base_, cgroups);
  if (made_host_cgroup_) cgroups.push_back(host_cgroup_);
  for (const std::string& cg : cgroups) {
    std::error_code ec;
    if (!std::filesystem::exists(cg, ec)) continue;
    // A graceful stop removes every cgroup the daemon made, supervisor included; the base stays
    // when it was there before the daemon (made here), and the host cgroup is ours.
    if (cg != cgroup_base_ && cg != host_cgroup_) {
      problems.push_back(absl::StrCat("the daemon left cgroup ", cg));
    }
    if (const std::string pids = Pids(cg); !pids.empty()) {
      problems.push_back(absl::StrCat("cgroup ", cg, " was not empty after the daemon stopped: ",
                                      "pids ", pids, KillAndWaitEmpty(cg) ? " (killed)" : ""));
    }
    if (::rmdir(cg.c_str()) != 0 && errno != ENOENT) {
      problems.push_back(absl::StrCat("cannot remove cgroup ", cg, ": ", std::strerror(errno)));
    }
  }
}

void DaemonDirs::RemoveBpffsDir(std::vector<std::string>& problems) {
  // A graceful stop removes the dir with all that is pinned in it: what is still there is
  // reported, then removed.
  std::error_code ec;
  if (bpffs_dir_.empty() || !std::filesystem::exists(bpffs_dir_, ec)) return;
  std::string entries;
  for (const auto& e : std::filesystem::recursive_directory_iterator(bpffs_dir_, ec)) {
    absl::StrAppend(&entries, " ", e.path().lexically_relative(bpffs_dir_).string());
  }
  problems.push_back(absl::StrCat("the daemon left ", bpffs_dir_, ":", entries));
  std::filesystem::remove_all(bpffs_dir_, ec);
}

}  // namespace gatekeeper::bench
