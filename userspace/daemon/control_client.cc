#include "daemon/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/socket_address.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace gatekeeper::daemon {

using common::ErrnoStatus;
using common::UniqueFd;

absl::StatusOr<nlohmann::json> ControlRequest(const std::string& path,
                                              const nlohmann::json& request, int timeout_ms) {
  GK_ASSIGN_OR_RETURN(const common::SocketAddress addr, common::SocketAddress::Unix(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(errno, "create a socket");
  // Bounds the blocking connect() and send() too: a wedged daemon's full backlog would otherwise
  // hang the CLI regardless of `timeout_ms`.
  const timeval send_timeout{.tv_sec = timeout_ms / 1000,
                             .tv_usec = suseconds_t{timeout_ms % 1000} * 1000};
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  if (::connect(fd.get(), addr.get(), addr.length) != 0) {
    const int err = errno;
    if (err == EAGAIN) {
      return absl::DeadlineExceededError(
          absl::StrCat("the daemon at ", path, " does not accept connections"));
    }
    if (err == EACCES || err == EPERM) {
      return ErrnoStatus(err, absl::StrCat("permission denied for the control socket ", path,
                                           " (only root and the [Control] Group= of "
                                           "gatekeeper.conf may use it)"));
    }
    return ErrnoStatus(
        err, absl::StrCat("connect to the daemon at ", path, " (is `gatekeeper run` running?)"));
  }
  const std::string text = request.dump() + "\n";
  int send_errno = 0;
  for (size_t sent = 0; sent < text.size();) {
    const ssize_t n = ::send(fd.get(), text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
    } else if (errno != EINTR) {
      // A daemon that refuses us answers without reading and closes: the answer may still be
      // waiting to be read, and says more than EPIPE does.
      send_errno = errno;
      break;
    }
  }
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // The reply is one line; stopping at its newline also spares us the ECONNRESET a daemon causes
  // when it closes with part of our request unread.
  while (reply.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd.get(), POLLIN, 0};
    const int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return ErrnoStatus(errno, "wait for the reply");
    if (ready == 0) {
      return absl::DeadlineExceededError(absl::StrCat("no reply from the daemon at ", path));
    }
    char buf[8192];
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    // A reset is a close with our request unread (a refusal, or a daemon with too many clients).
    if (n == 0 || (n < 0 && errno == ECONNRESET)) break;
    if (n < 0) return ErrnoStatus(errno, "read the reply");
    reply.append(buf, static_cast<size_t>(n));
  }
  // EPIPE and ECONNRESET mean the daemon closed on us, which the empty reply reports better.
  if (reply.empty() && send_errno != 0 && send_errno != EPIPE && send_errno != ECONNRESET) {
    return ErrnoStatus(send_errno, "send the request");
  }
  const std::string line = reply.substr(0, reply.find('\n'));
  nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::UnavailableError(
        reply.empty() ? "the daemon closed the connection without a reply (too many clients?)"
                      : "the daemon sent a malformed reply");
  }
  if (parsed.is_object() && parsed.contains("error")) {
    const nlohmann::json& error = parsed["error"];
    const std::string message = error.is_string() ? error.get<std::string>() : error.dump();
    if (absl::StartsWith(message, "permission denied")) {
      return absl::PermissionDeniedError(message);
    }
    return absl::FailedPreconditionError(message);
  }
  return parsed;
}

}  // namespace gatekeeper::daemon
