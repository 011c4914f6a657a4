#include "daemon/control_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace gatekeeper::daemon {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Listen(EventLoop& loop,
                                                                     const std::string& path,
                                                                     Handler handler, Logger log) {
  std::unique_ptr<ControlServer> server(
      new ControlServer(loop, path, std::move(handler), std::move(log)));
  auto addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  server->listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!server->listener_) return ErrnoStatus(errno, "create the control socket");
  ::unlink(path.c_str());  // a previous daemon's socket file
  // Created with 0600 from the start: no window in which others could connect.
  const mode_t old_umask = ::umask(0177);
  const int r = ::bind(server->listener_.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr));
  ::umask(old_umask);
  if (r != 0) return ErrnoStatus(errno, absl::StrCat("bind control socket ", path));
  if (::listen(server->listener_.get(), 64) != 0) {
    return ErrnoStatus(errno, absl::StrCat("listen on control socket ", path));
  }
  auto source =
      loop.AddIo(server->listener_.get(), EPOLLIN, [s = server.get()](uint32_t) { s->OnAccept(); });
  if (!source.ok()) return source.status();
  server->source_ = *std::move(source);
  return server;
}

ControlServer::~ControlServer() {
  clients_.clear();
  source_.reset();
  if (listener_) ::unlink(path_.c_str());
}

void ControlServer::OnAccept() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) return;  // EAGAIN, or a client that went away
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != 0 && cred.uid != ::geteuid())) {
      log_(absl::StrCat("<4>control socket: refused a request from uid ", cred.uid, " pid ",
                        cred.pid));
      continue;
    }
    clients_.push_back(Client{std::move(fd), nullptr, {}});
    auto it = std::prev(clients_.end());
    auto source = loop_.AddIo(it->fd.get(), EPOLLIN, [this, it](uint32_t) { OnReadable(it); });
    if (!source.ok()) {
      clients_.erase(it);
      continue;
    }
    it->source = *std::move(source);
  }
}

void ControlServer::OnReadable(std::list<Client>::iterator client) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(client->fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      client->buffer.append(buf, n);
      if (client->buffer.size() > kMaxRequestBytes) {
        Reply(*client, {{"error", "request too large"}});
        clients_.erase(client);
        return;
      }
      continue;
    }
    if (n < 0 && errno == EAGAIN) break;
    clients_.erase(client);  // closed before a full request, or an error
    return;
  }
  const size_t newline = client->buffer.find('\n');
  if (newline == std::string::npos) return;  // wait for the rest
  nlohmann::json reply;
  const nlohmann::json request =
      nlohmann::json::parse(client->buffer.substr(0, newline), nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded() || !request.is_object()) {
    reply = {{"error", "malformed request: expected one JSON object on one line"}};
  } else {
    reply = handler_(request);
  }
  Reply(*client, reply);
  clients_.erase(client);
}

void ControlServer::Reply(Client& client, const nlohmann::json& reply) {
  const std::string text = reply.dump() + "\n";
  // Replies are small; a client that does not read gets what fits, never a blocked loop.
  (void)!::send(client.fd.get(), text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

absl::StatusOr<nlohmann::json> ControlRequest(const std::string& path,
                                              const nlohmann::json& request, int timeout_ms) {
  auto addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(errno, "create a socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    return ErrnoStatus(
        errno, absl::StrCat("connect to the daemon at ", path, " (is `gatekeeper run` running?)"));
  }
  const std::string text = request.dump() + "\n";
  if (::send(fd.get(), text.data(), text.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(text.size())) {
    return ErrnoStatus(errno, "send the request");
  }
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) {
      return absl::DeadlineExceededError(absl::StrCat("no reply from the daemon at ", path));
    }
    char buf[8192];
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0) return ErrnoStatus(errno, "read the reply");
    if (n == 0) break;
    reply.append(buf, n);
  }
  nlohmann::json parsed = nlohmann::json::parse(reply, nullptr, false);
  if (parsed.is_discarded()) return absl::InternalError("the daemon sent a malformed reply");
  if (parsed.contains("error")) {
    return absl::FailedPreconditionError(parsed["error"].get<std::string>());
  }
  return parsed;
}

}  // namespace gatekeeper::daemon
