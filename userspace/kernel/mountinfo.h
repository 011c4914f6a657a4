// Finding the cgroup v2 hierarchy: it may be /sys/fs/cgroup (unified) or
// /sys/fs/cgroup/unified (hybrid), so it is read from mountinfo, never assumed.
#ifndef GATEKEEPER_KERNEL_MOUNTINFO_H_
#define GATEKEEPER_KERNEL_MOUNTINFO_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatekeeper::kernel {

// The mount point of the first cgroup2 file system in /proc/<pid>/mountinfo text, with the
// kernel's octal escapes (\040 for a space) decoded; nullopt when there is none.
std::optional<std::string> FindCgroup2Mount(absl::string_view mountinfo);

// Reads /proc/self/mountinfo. NotFound, with how to fix it, when no cgroup2 is mounted.
absl::StatusOr<std::string> ReadCgroup2Mount();

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_MOUNTINFO_H_
