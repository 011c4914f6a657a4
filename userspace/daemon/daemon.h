// `gatekeeper run`: loads the configuration, attaches the filters, then follows the links on one
// event loop, binding each gate's listeners when its device and addresses are there and handing
// them to its service.
#ifndef GATEKEEPER_DAEMON_DAEMON_H_
#define GATEKEEPER_DAEMON_DAEMON_H_

#include <string>

#include "absl/status/status.h"

namespace gatekeeper::daemon {

struct DaemonOptions {
  std::string config_dir = "/etc/gatekeeper";
  std::string runtime_dir = "/run/gatekeeper";
  std::string cgroup_base;  // empty: see ChooseCgroupBase
  std::string host_cgroup;  // empty: the cgroup v2 root
  std::string bpffs_dir = "/sys/fs/bpf/gatekeeper";
  std::string metrics_listen;  // ADDR:PORT for HTTP /metrics; empty: not served
};

// Runs until SIGTERM/SIGINT (SIGHUP reloads); then stops the services, removes what it made and
// returns to the cgroup it was started in (see LeaveSupervisor). An error before READY=1 (bad
// configuration, missing kernel feature) is returned with its explanation.
absl::Status RunDaemon(const DaemonOptions& options);

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_DAEMON_H_
