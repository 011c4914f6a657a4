#include "config/file_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/unique_fd.h"

namespace gatekeeper::config {

absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes) {
  // O_NONBLOCK so that opening a FIFO cannot hang before fstat() can refuse it.
  common::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return common::ErrnoStatus(errno, absl::StrCat("open ", path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return common::ErrnoStatus(errno, absl::StrCat("stat ", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  std::string text;
  size_t limit = max_bytes + 1;
  text.resize(std::min<size_t>(limit, st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 4096));
  size_t used = 0;
  while (used < limit) {
    if (used == text.size()) text.resize(std::min(limit, text.size() * 2));
    ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return common::ErrnoStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  text.resize(used);
  return text;
}

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir,
                                                       std::string_view suffix) {
  std::unique_ptr<DIR, int (*)(DIR*)> handle(::opendir(dir.c_str()), ::closedir);
  if (handle == nullptr) return common::ErrnoStatus(errno, absl::StrCat("open directory ", dir));
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(handle.get());
    if (entry == nullptr) {
      if (errno != 0) return common::ErrnoStatus(errno, absl::StrCat("read directory ", dir));
      break;
    }
    std::string_view name = entry->d_name;
    // Hidden files are editor backups and the like, as systemd treats them.
    if (name.empty() || name.front() == '.' || name.size() <= suffix.size() ||
        !name.ends_with(suffix)) {
      continue;
    }
    names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  if (out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

std::string_view BaseName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace gatekeeper::config
