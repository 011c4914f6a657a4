#include "activation/credentials.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace gatekeeper::activation {
namespace {

// getpwnam_r() and friends report "no such entry" as 0 with a null result, or, depending on the
// NSS module, as one of these (see getpwnam_r(3)).
bool MeansNotFound(int err) {
  return err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM;
}

std::optional<uint32_t> NumericId(absl::string_view text) {
  uint32_t id;
  if (text.empty() || !absl::c_all_of(text, absl::ascii_isdigit) || !absl::SimpleAtoi(text, &id)) {
    return std::nullopt;
  }
  return id;
}

// Calls `lookup(buffer, size, &result)` with a growing buffer until it stops reporting ERANGE.
template <typename Entry, typename Lookup>
absl::StatusOr<std::optional<Entry>> LookUp(absl::string_view what, Lookup lookup,
                                            std::string* buffer) {
  const long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  buffer->resize(hint > 0 ? static_cast<size_t>(hint) : 1024);
  for (;;) {
    Entry entry{};
    Entry* result = nullptr;
    const int err = lookup(&entry, buffer->data(), buffer->size(), &result);
    if (err == ERANGE && buffer->size() < (1u << 24)) {
      buffer->resize(buffer->size() * 2);
      continue;
    }
    if (result != nullptr) return std::optional<Entry>(entry);
    if (MeansNotFound(err)) return std::optional<Entry>();
    return common::ErrnoStatus(err, absl::StrCat("look up ", what));
  }
}

absl::StatusOr<std::optional<passwd>> FindUser(absl::string_view name, std::string* buffer) {
  const std::string text(name);
  if (std::optional<uint32_t> uid = NumericId(name)) {
    return LookUp<passwd>(
        absl::StrCat("user ", name),
        [&](passwd* e, char* b, size_t n, passwd** r) { return ::getpwuid_r(*uid, e, b, n, r); },
        buffer);
  }
  return LookUp<passwd>(
      absl::StrCat("user ", name),
      [&](passwd* e, char* b, size_t n, passwd** r) {
        return ::getpwnam_r(text.c_str(), e, b, n, r);
      },
      buffer);
}

absl::StatusOr<gid_t> FindGroup(absl::string_view name) {
  const std::string text(name);
  std::string buffer;
  absl::StatusOr<std::optional<group>> found;
  if (std::optional<uint32_t> gid = NumericId(name)) {
    found = LookUp<group>(
        absl::StrCat("group ", name),
        [&](group* e, char* b, size_t n, group** r) { return ::getgrgid_r(*gid, e, b, n, r); },
        &buffer);
  } else {
    found = LookUp<group>(
        absl::StrCat("group ", name),
        [&](group* e, char* b, size_t n, group** r) {
          return ::getgrnam_r(text.c_str(), e, b, n, r);
        },
        &buffer);
  }
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    return absl::NotFoundError(absl::StrCat("group \"", name, "\" does not exist"));
  }
  return (*found)->gr_gid;
}

absl::StatusOr<std::vector<gid_t>> GroupsOf(const std::string& user, gid_t primary) {
  std::vector<gid_t> groups(16);
  for (;;) {
    int count = static_cast<int>(groups.size());
    if (::getgrouplist(user.c_str(), primary, groups.data(), &count) >= 0) {
      groups.resize(count);
      return groups;
    }
    // -1 means the array was too small; `count` now holds the size needed.
    if (count <= static_cast<int>(groups.size()) || count > 65536) {
      return absl::InternalError(absl::StrCat("getgrouplist for user ", user, " failed"));
    }
    groups.resize(count);
  }
}

}  // namespace

absl::StatusOr<Credentials> ResolveCredentials(absl::string_view user, absl::string_view group) {
  if (user.empty() && group.empty()) {
    return absl::InvalidArgumentError("credentials need a user or a group");
  }
  Credentials creds;
  std::string buffer;
  if (!user.empty()) {
    absl::StatusOr<std::optional<passwd>> pw = FindUser(user, &buffer);
    if (!pw.ok()) return pw.status();
    if (!pw->has_value()) {
      return absl::NotFoundError(absl::StrCat("user \"", user, "\" does not exist"));
    }
    creds.user = (*pw)->pw_name;
    creds.uid = (*pw)->pw_uid;
    creds.gid = (*pw)->pw_gid;
    creds.home = (*pw)->pw_dir != nullptr ? (*pw)->pw_dir : "";
    creds.shell = (*pw)->pw_shell != nullptr ? (*pw)->pw_shell : "";
  } else {
    // Group= alone keeps the daemon's user; its name only matters for $USER.
    creds.uid = ::geteuid();
    absl::StatusOr<std::optional<passwd>> pw = FindUser(absl::StrCat(creds.uid), &buffer);
    if (pw.ok() && pw->has_value()) {
      creds.user = (*pw)->pw_name;
      creds.home = (*pw)->pw_dir != nullptr ? (*pw)->pw_dir : "";
      creds.shell = (*pw)->pw_shell != nullptr ? (*pw)->pw_shell : "";
    } else {
      creds.user = absl::StrCat(creds.uid);
    }
  }
  if (!group.empty()) {
    absl::StatusOr<gid_t> gid = FindGroup(group);
    if (!gid.ok()) return gid.status();
    creds.gid = *gid;
  }
  if (!user.empty()) {
    absl::StatusOr<std::vector<gid_t>> groups = GroupsOf(creds.user, creds.gid);
    if (!groups.ok()) return groups.status();
    creds.supplementary_groups = *std::move(groups);
  } else {
    creds.supplementary_groups = {creds.gid};
  }
  return creds;
}

std::vector<std::string> CredentialsEnvironment(const Credentials& credentials) {
  std::vector<std::string> env = {absl::StrCat("USER=", credentials.user),
                                  absl::StrCat("LOGNAME=", credentials.user)};
  if (!credentials.home.empty()) env.push_back(absl::StrCat("HOME=", credentials.home));
  if (!credentials.shell.empty()) env.push_back(absl::StrCat("SHELL=", credentials.shell));
  return env;
}

}  // namespace gatekeeper::activation
