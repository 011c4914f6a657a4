// The bpffs directory where a gatekeeper instance pins its links and maps, so that filters
// outlive a crashed daemon (fail closed) and a restarted one can adopt them.
#ifndef GATEKEEPER_KERNEL_BPFFS_H_
#define GATEKEEPER_KERNEL_BPFFS_H_

#include <string>

#include "absl/status/status.h"

namespace gatekeeper::kernel {

inline constexpr char kDefaultBpffsMount[] = "/sys/fs/bpf";

// Makes `dir` (and its parents) on a bpf file system. When the nearest existing ancestor is not
// on bpffs and `dir` lies under /sys/fs/bpf, mounts bpffs there first (it is not mounted at boot
// everywhere); anywhere else that is an error saying how to mount one.
absl::Status PrepareBpffsDir(const std::string& dir);

// True when `path` exists and is on a bpf file system.
bool IsOnBpffs(const std::string& path);

// Removes pins and directories below and including `dir`. Removing a link's pin detaches the link
// once no fd holds it any more; callers must only do that when no socket of the scope lives on.
absl::Status RemovePinTree(const std::string& dir);

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_BPFFS_H_
