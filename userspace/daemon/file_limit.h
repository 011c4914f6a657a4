// The daemon's own RLIMIT_NOFILE. Its fds grow with its gates (a listener, cgroup fds, BPF links
// and maps: about 6 per gate), so the usual soft limit of 1024 runs out near 165 gates.
#ifndef GATEKEEPER_DAEMON_FILE_LIMIT_H_
#define GATEKEEPER_DAEMON_FILE_LIMIT_H_

#include <sys/resource.h>

#include "absl/status/statusor.h"

namespace gatekeeper::daemon {

// Raises the soft RLIMIT_NOFILE to the hard limit, as systemd does for itself, and returns the
// soft limit it had before: services get that one back (SpawnRequest::nofile_soft_limit), since
// select()-based programs break on fds above 1023. Nothing to raise is no error. On an error the
// limit is unchanged and the caller can go on with it.
absl::StatusOr<rlim_t> RaiseFileLimit();

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_FILE_LIMIT_H_
