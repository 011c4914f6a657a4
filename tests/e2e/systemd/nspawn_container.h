// A throwaway Debian container booted with systemd-nspawn from the cached root that
// scripts/nspawn-root builds: an overlay mount (the cache is only ever the lower layer), nspawn in
// a cgroup of its own so that the payload/ and supervisor/ cgroups it makes (--keep-unit) are
// removed with it, and commands run inside through nsenter. Everything is torn down on
// destruction, whatever state the container is in.
#ifndef GATEKEEPER_TESTS_E2E_SYSTEMD_NSPAWN_CONTAINER_H_
#define GATEKEEPER_TESTS_E2E_SYSTEMD_NSPAWN_CONTAINER_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace gatekeeper::testing {

// Where scripts/nspawn-root keeps the root, or an error saying how to build it (the script's
// own --check decides, so the test and the install step agree on "complete").
absl::StatusOr<std::string> CachedNspawnRoot(const std::string& script);

// Polls `done` every `interval` until it holds or `timeout` passes (for commands that are too
// costly to run in a tight loop).
bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval = std::chrono::milliseconds(100));

class NspawnContainer {
 public:
  enum class CgroupLayout { kUnified, kHost };

  // Nothing happens until Prepare().
  NspawnContainer(std::string image, CgroupLayout layout);
  ~NspawnContainer();
  NspawnContainer(const NspawnContainer&) = delete;
  NspawnContainer& operator=(const NspawnContainer&) = delete;

  // Takes a shared lock on the cache (scripts/nspawn-root rebuilds only under an exclusive one),
  // removes what a killed earlier run left behind, and mounts the overlay.
  absl::Status Prepare();
  // The container's file system (the overlay); write files here before Boot().
  const std::string& root() const { return merged_; }
  // Writes `text` to root()/path, creating directories.
  absl::Status WriteFile(const std::string& path, const std::string& text, mode_t mode = 0644);
  absl::Status CopyFile(const std::string& from, const std::string& path, mode_t mode);
  absl::Status Symlink(const std::string& target, const std::string& path);

  // Starts systemd-nspawn and waits until the container's init (systemd) runs.
  absl::Status Boot(std::chrono::milliseconds timeout);
  // Runs `argv` inside the container (all namespaces of its init); output and errors in `out`.
  int Exec(const std::vector<std::string>& argv, std::string* out = nullptr,
           std::chrono::seconds timeout = std::chrono::seconds(30)) const;
  // Stops the container: halt through nspawn (SIGTERM), SIGKILL after `timeout`. True when it
  // halted in time (or was not running).
  bool Shutdown(std::chrono::milliseconds timeout);

  pid_t init_pid() const { return init_pid_; }
  bool nspawn_running();
  std::string ConsoleLog() const;
  const std::string& name() const { return name_; }

 private:
  std::string image_;
  CgroupLayout layout_;
  std::string name_;     // gk-test-nspawn-<pid>: machine name, work dir, cgroup
  std::string workdir_;  // /tmp/<name>: upper/, work/, merged/, console.log
  std::string merged_;
  std::string cgroup_;  // <cgroup2>/<name>: nspawn runs here, makes payload/ and supervisor/
  common::UniqueFd lock_;
  bool mounted_ = false;
  pid_t nspawn_pid_ = -1;
  pid_t init_pid_ = -1;
};

// For gtest's messages about the test parameter.
void PrintTo(NspawnContainer::CgroupLayout layout, std::ostream* os);

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_E2E_SYSTEMD_NSPAWN_CONTAINER_H_
