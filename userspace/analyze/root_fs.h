// Files inside an alternative root (--root): every symlink is resolved against that root, the
// way systemd's chase() with CHASE_PREFIX_ROOT does, so an absolute link never escapes to the host.
#ifndef GATEKEEPER_ANALYZE_ROOT_FS_H_
#define GATEKEEPER_ANALYZE_ROOT_FS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gatekeeper::analyze {

struct Resolved {
  std::string path;     // absolute, inside the root, all symlinks followed
  bool exists = false;  // the final object exists
  bool is_dir = false;
  bool dev_null = false;  // the chain ends at /dev/null: the unit is masked
  bool via_symlink = false;
  long long size = 0;
};

class RootFs {
 public:
  // An empty root or "/" means the host itself.
  explicit RootFs(std::string root);

  // The host path of an in-root path, for open() and friends.
  std::string HostPath(const std::string& path) const;
  // The in-root path as users know it (what FILE:LINE messages show).
  const std::string& root() const { return root_; }

  // Follows symlinks (at most 40, like the kernel); a loop is an error naming the path.
  absl::StatusOr<Resolved> Resolve(const std::string& path) const;
  // True when something (even a dangling symlink) is at `path`, without following it.
  bool Exists(const std::string& path) const;
  absl::StatusOr<std::string> ReadFile(const std::string& path) const;
  // Entry names, sorted; NotFound when the directory does not exist.
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) const;

 private:
  std::string root_;
};

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_ROOT_FS_H_
