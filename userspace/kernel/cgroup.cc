#include "kernel/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/errno_status.h"
#include "common/status_macros.h"

namespace gatekeeper::kernel {

using common::ErrnoStatus;
using common::UniqueFd;

absl::StatusOr<Cgroup> Cgroup::Open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open cgroup ", path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat cgroup ", path));
  return Cgroup(path, std::move(fd), st.st_ino);
}

absl::StatusOr<Cgroup> Cgroup::CreateOrOpen(const std::string& path, bool* created) {
  std::error_code ec;
  const bool made = std::filesystem::create_directories(path, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("create cgroup ", path));
  if (created != nullptr) *created = made;
  return Open(path);
}

namespace {

absl::Status WriteFileAt(int dirfd, const std::string& dir, const char* name,
                         absl::string_view value) {
  UniqueFd fd(::openat(dirfd, name, O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", dir, "/", name));
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    return ErrnoStatus(errno, absl::StrCat("write '", value, "' to ", dir, "/", name));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Cgroup::AddProcess(pid_t pid) const {
  return WriteFileAt(fd_.get(), path_, "cgroup.procs", absl::StrCat(pid));
}

namespace {

// Every pid listed in `dir`/cgroup.procs and in its descendants'.
std::vector<pid_t> ProcessesUnder(const std::string& dir) {
  std::vector<std::string> dirs = {dir};
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) dirs.push_back(it->path().string());
  }
  std::vector<pid_t> pids;
  for (const std::string& d : dirs) {
    std::ifstream procs(d + "/cgroup.procs");
    pid_t pid = 0;
    while (procs >> pid) pids.push_back(pid);
  }
  return pids;
}

}  // namespace

// Not cgroup.kill: on Linux 6.18 (at least), after a cgroup.kill every process later cloned into
// that cgroup with clone3(CLONE_INTO_CGROUP) is killed at birth, because the kernel compares the
// kill sequence number of the parent's cgroup with the target's. Services are spawned exactly so,
// into cgroups that live on after a kill (reload, restart after a crash). So the cgroup is frozen,
// so that nothing in it can fork away, its processes are killed one by one (a fatal signal ends a
// frozen task), and it is thawed again.
absl::Status Cgroup::KillAll() const {
  GK_RETURN_IF_ERROR(WriteFileAt(fd_.get(), path_, "cgroup.freeze", "1"));
  for (pid_t pid : ProcessesUnder(path_)) {
    if (::kill(pid, SIGKILL) != 0 && errno != ESRCH) {
      const int err = errno;
      (void)WriteFileAt(fd_.get(), path_, "cgroup.freeze", "0");
      return ErrnoStatus(err, absl::StrCat("kill process ", pid, " of cgroup ", path_));
    }
  }
  return WriteFileAt(fd_.get(), path_, "cgroup.freeze", "0");
}

absl::Status Cgroup::WaitEmpty(absl::Duration timeout) const {
  UniqueFd events(::openat(fd_.get(), "cgroup.events", O_RDONLY | O_CLOEXEC));
  if (!events) return ErrnoStatus(errno, absl::StrCat("open ", path_, "/cgroup.events"));
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    char buf[256];
    const ssize_t n = ::pread(events.get(), buf, sizeof(buf) - 1, 0);
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", path_, "/cgroup.events"));
    if (absl::StrContains(absl::string_view(buf, n), "populated 0")) return absl::OkStatus();
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat("processes remain in cgroup ", path_));
    }
    // The kernel signals a change of cgroup.events as POLLPRI.
    pollfd p{events.get(), POLLPRI, 0};
    ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
  }
}

absl::Status Cgroup::SetXattr(const std::string& name, const std::string& value) const {
  if (::fsetxattr(fd_.get(), name.c_str(), value.data(), value.size(), 0) != 0) {
    return ErrnoStatus(errno, absl::StrCat("set extended attribute ", name, " of cgroup ", path_));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Cgroup::HasXattr(const std::string& name) const {
  if (::fgetxattr(fd_.get(), name.c_str(), nullptr, 0) >= 0) return true;
  if (errno == ENODATA) return false;
  return ErrnoStatus(errno, absl::StrCat("read extended attribute ", name, " of cgroup ", path_));
}

absl::Status RemoveCgroupTree(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return absl::OkStatus();
  // Only directories are children; the control files inside cannot (and need not) be removed.
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.is_directory()) GK_RETURN_IF_ERROR(RemoveCgroupTree(entry.path().string()));
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("list cgroup ", path));
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("remove cgroup ", path,
                                           errno == EBUSY ? " (processes still inside)" : ""));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> CgroupLevel(const std::string& cgroup2_mount, const std::string& path) {
  const std::filesystem::path root = std::filesystem::path(cgroup2_mount).lexically_normal();
  const std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  const std::filesystem::path rel = p.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup ", path, " is not inside the cgroup v2 mount ", cgroup2_mount));
  }
  uint32_t level = 0;
  for (const auto& part : rel) {
    if (part != "." && !part.empty()) ++level;
  }
  return level;
}

absl::StatusOr<std::string> CgroupOfProcess(const std::string& cgroup2_mount, pid_t pid) {
  const std::string file = pid == 0 ? "/proc/self/cgroup" : absl::StrCat("/proc/", pid, "/cgroup");
  std::ifstream in(file);
  if (!in) return ErrnoStatus(errno, absl::StrCat("read ", file));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "0::")) {
      std::string out = cgroup2_mount;
      if (rest != "/") absl::StrAppend(&out, rest);
      return out;
    }
  }
  return absl::NotFoundError(absl::StrCat(file, " has no cgroup v2 (0::) line"));
}

std::vector<std::string> ChildCgroups(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.is_directory(ec)) out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace gatekeeper::kernel
