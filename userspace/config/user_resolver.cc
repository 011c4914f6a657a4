#include "config/user_resolver.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

namespace gatekeeper::config {
namespace {

// getpwnam_r/getgrnam_r want a caller-sized buffer and say ERANGE when it is too small; group
// entries with many members can be large.
constexpr size_t kInitialBuffer = 4096;
constexpr size_t kMaxBuffer = size_t{1} << 20;

template <typename Entry, typename Lookup>
bool LookUp(std::string_view name, Entry& entry, Lookup lookup) {
  std::string key(name);
  std::vector<char> buffer(kInitialBuffer);
  while (true) {
    Entry* result = nullptr;
    int err = lookup(key.c_str(), &entry, buffer.data(), buffer.size(), &result);
    if (err == ERANGE && buffer.size() < kMaxBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    // Any other failure (no such entry, an unreachable NSS source) means the name cannot be
    // used: the config error says so, and `check` can be rerun once the source is back.
    return err == 0 && result != nullptr;
  }
}

}  // namespace

std::optional<uid_t> SystemUserResolver::Uid(std::string_view name) {
  passwd entry{};
  if (name.find('\0') != std::string_view::npos || !LookUp(name, entry, getpwnam_r)) {
    return std::nullopt;
  }
  return entry.pw_uid;
}

std::optional<gid_t> SystemUserResolver::Gid(std::string_view name) {
  group entry{};
  if (name.find('\0') != std::string_view::npos || !LookUp(name, entry, getgrnam_r)) {
    return std::nullopt;
  }
  return entry.gr_gid;
}

}  // namespace gatekeeper::config
