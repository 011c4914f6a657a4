#include "analyze/root_fs.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gatekeeper::analyze {
namespace {

constexpr int kMaxSymlinks = 40;

absl::Status ErrnoError(int err, const std::string& what) {
  const std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

}  // namespace

RootFs::RootFs(std::string root) : root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string RootFs::HostPath(const std::string& path) const { return root_ + path; }

bool RootFs::Exists(const std::string& path) const {
  struct stat st;
  return lstat(HostPath(path).c_str(), &st) == 0;
}

absl::StatusOr<Resolved> RootFs::Resolve(const std::string& path) const {
  std::deque<std::string> todo;
  for (absl::string_view c : absl::StrSplit(path, '/', absl::SkipEmpty())) todo.emplace_back(c);
  std::vector<std::string> done;
  Resolved r;
  int hops = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();  // never above the root
      continue;
    }
    done.push_back(c);
    const std::string inside = "/" + absl::StrJoin(done, "/");
    if (inside == "/dev/null") {
      // Masking links point at the host's /dev/null; a root need not contain one.
      r.path = inside;
      r.exists = true;
      r.dev_null = todo.empty();
      return r;
    }
    struct stat st;
    if (lstat(HostPath(inside).c_str(), &st) != 0) {
      if (errno != ENOENT && errno != ENOTDIR) return ErrnoError(errno, inside);
      for (auto& rest : todo) done.push_back(rest);
      r.path = "/" + absl::StrJoin(done, "/");
      r.dev_null = r.exists = r.path == "/dev/null";
      return r;
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++hops > kMaxSymlinks) {
      return absl::FailedPreconditionError(absl::StrCat(path,
                                                        ": too many levels of symbolic "
                                                        "links (a symlink loop)"));
    }
    r.via_symlink = true;
    std::string target(PATH_MAX, '\0');
    const ssize_t n = readlink(HostPath(inside).c_str(), target.data(), target.size());
    if (n < 0) return ErrnoError(errno, absl::StrCat("readlink ", inside));
    target.resize(n);
    done.pop_back();
    if (!target.empty() && target[0] == '/') done.clear();
    std::vector<std::string> parts;
    for (absl::string_view p : absl::StrSplit(target, '/', absl::SkipEmpty()))
      parts.emplace_back(p);
    todo.insert(todo.begin(), parts.begin(), parts.end());
  }
  r.path = "/" + absl::StrJoin(done, "/");
  struct stat st;
  if (stat(HostPath(r.path).c_str(), &st) == 0) {
    r.exists = true;
    r.is_dir = S_ISDIR(st.st_mode);
    r.size = st.st_size;
  }
  return r;
}

absl::StatusOr<std::string> RootFs::ReadFile(const std::string& path) const {
  const std::string host = HostPath(path);
  struct stat st;
  if (stat(host.c_str(), &st) != 0) return ErrnoError(errno, path);
  if (S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(path + ": is a directory");
  std::ifstream in(host, std::ios::binary);
  if (!in) return ErrnoError(errno == 0 ? EACCES : errno, path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(path + ": read error");
  return ss.str();
}

absl::StatusOr<std::vector<std::string>> RootFs::ListDir(const std::string& path) const {
  DIR* d = opendir(HostPath(path).c_str());
  if (d == nullptr) return ErrnoError(errno, path);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace gatekeeper::analyze
