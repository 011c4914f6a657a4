// The only file-system access of gk_config: reading config files with a size bound and listing
// config directories (internal to gk_config).
#ifndef GATEKEEPER_CONFIG_FILE_READER_H_
#define GATEKEEPER_CONFIG_FILE_READER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gatekeeper::config {

// Reads a regular file, but at most `max_bytes` + 1 bytes, so that the caller can tell "too
// large" without holding all of it. FIFOs, devices and directories are refused instead of read
// (a FIFO would block, /dev/zero would never end). A symlink loop is an error (ELOOP).
absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes);

// Names (not paths) of the entries of `dir` that end in `suffix` and do not start with '.',
// in byte order. NotFound when `dir` does not exist.
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir,
                                                       std::string_view suffix);

// "dir/name" without doubling a trailing slash.
std::string JoinPath(std::string_view dir, std::string_view name);

// The last component of a path.
std::string_view BaseName(std::string_view path);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_FILE_READER_H_
