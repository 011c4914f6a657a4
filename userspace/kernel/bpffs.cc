#include "kernel/bpffs.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace gatekeeper::kernel {

using common::ErrnoStatus;

bool IsOnBpffs(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

absl::Status PrepareBpffsDir(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::path existing = fs::path(dir).lexically_normal();
  std::error_code ec;
  while (!existing.empty() && !fs::exists(existing, ec)) existing = existing.parent_path();

  if (!IsOnBpffs(existing.string())) {
    const std::string mount_point = kDefaultBpffsMount;
    const bool under_default =
        dir == mount_point || absl::StartsWith(dir, absl::StrCat(mount_point, "/"));
    if (!under_default || IsOnBpffs(mount_point)) {
      return absl::FailedPreconditionError(
          absl::StrCat("BPF pin directory ", dir,
                       " is not on a bpf file system; mount one there with "
                       "`mount -t bpf bpf DIR` or choose a directory under ",
                       mount_point));
    }
    fs::create_directories(mount_point, ec);
    if (::mount("bpf", mount_point.c_str(), "bpf", 0, "mode=0700") != 0) {
      return ErrnoStatus(errno,
                         absl::StrCat("mount bpffs at ", mount_point, " (needed for ", dir, ")"));
    }
  }
  fs::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("create BPF pin directory ", dir));
  if (!IsOnBpffs(dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat("BPF pin directory ", dir, " is not on a bpf file system"));
  }
  return absl::OkStatus();
}

absl::Status RemovePinTree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("remove BPF pins under ", dir));
  return absl::OkStatus();
}

}  // namespace gatekeeper::kernel
