// Move-only owner of a file descriptor: the one place that closes fds.
#ifndef GATEKEEPER_COMMON_UNIQUE_FD_H_
#define GATEKEEPER_COMMON_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace gatekeeper::common {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }

  void reset(int fd = -1) {
    // close() errors are not actionable here: the fd is gone either way on Linux.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace gatekeeper::common

#endif  // GATEKEEPER_COMMON_UNIQUE_FD_H_
