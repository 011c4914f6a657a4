#include "daemon/control_server.h"

#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/status_macros.h"

namespace gatekeeper::daemon {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;

// How long accepting stays off after accept() ran out of fds or memory: the listener stays
// readable meanwhile, and a level-triggered source would otherwise spin.
constexpr absl::Duration kAcceptPause = absl::Milliseconds(100);

// Replies at least this long (status of a hundred gates: 100 KB) leave their text and what was
// built for it behind as free heap pages, which stay resident until given back.
constexpr size_t kTrimAfterReplyBytes = size_t{32} * 1024;

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

std::string GroupName(gid_t gid) {
  std::vector<char> buf(4096);
  group gr{};
  group* found = nullptr;
  while (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == ERANGE &&
         buf.size() < (size_t{1} << 20)) {
    buf.resize(buf.size() * 2);
  }
  return found != nullptr ? std::string(found->gr_name) : absl::StrCat(gid);
}

// A socket file is left behind when a daemon dies without cleaning up. Replace it, but only when
// nobody listens on it: taking over a running daemon's socket would cut that daemon off.
absl::Status RemoveStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("inspect the control socket path ", path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "control socket path ", path, " exists and is not a socket; not replacing it"));
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return ErrnoStatus(errno, "create a socket to probe the old control socket");
  // Non-blocking: a live listener with a full backlog answers EAGAIN instead of blocking us.
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 ||
      errno == EAGAIN) {
    return absl::AlreadyExistsError(
        absl::StrCat("another daemon is listening on the control socket ", path));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("remove the stale control socket ", path));
  }
  return absl::OkStatus();
}

// Gives the socket file to `group` with mode 0660, or back to the daemon's own group with 0600.
// The mode is narrowed to 0600 first and only widened once the file has its new group, so it is
// never open to a group that is not (or no longer) meant to have it. All changes go through one
// O_PATH fd: they hit the same inode even if the name were swapped in between.
absl::Status SetSocketFileAccess(const std::string& path, std::optional<gid_t> group) {
  UniqueFd file(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!file) return ErrnoStatus(errno, absl::StrCat("open the control socket file ", path));
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("inspect the control socket file ", path));
  }
  if (!S_ISSOCK(st.st_mode) || st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("control socket file ", path, " is not the daemon's socket any more"));
  }
  // fchmod() does not work on O_PATH fds; the /proc link reaches the same inode.
  const std::string via_proc = absl::StrCat("/proc/self/fd/", file.get());
  if ((st.st_mode & 07777) != 0600 && ::chmod(via_proc.c_str(), 0600) != 0) {
    return ErrnoStatus(errno, absl::StrCat("make the control socket ", path, " mode 0600"));
  }
  const gid_t owner = group.value_or(::getegid());
  if (::fchownat(file.get(), "", static_cast<uid_t>(-1), owner, AT_EMPTY_PATH) != 0) {
    return ErrnoStatus(errno, absl::StrCat("give the control socket ", path, " to gid ", owner));
  }
  if (group.has_value() && ::chmod(via_proc.c_str(), 0660) != 0) {
    return ErrnoStatus(errno, absl::StrCat("make the control socket ", path, " mode 0660"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<gid_t>> PeerGroups(int fd) {
  std::vector<gid_t> groups(32);
  // The peer's groups are fixed at connect(), so one retry with the size the kernel asked for is
  // enough; the bound only guards against surprises.
  for (int attempt = 0; attempt < 4; ++attempt) {
    socklen_t len = groups.size() * sizeof(gid_t);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno == ENODATA) return std::vector<gid_t>{};
    if (errno != ERANGE) return ErrnoStatus(errno, "read the client's groups (SO_PEERGROUPS)");
    groups.resize(std::max<size_t>(len / sizeof(gid_t), groups.size() * 2));
  }
  return absl::InternalError("read the client's groups (SO_PEERGROUPS): the list kept growing");
}

std::string SuppressedNote(uint64_t suppressed) {
  return suppressed == 0 ? "" : absl::StrCat(" (", suppressed, " similar messages suppressed)");
}

}  // namespace

ControlReply ControlReply::Serialized(std::string text) {
  text.push_back('\n');
  return ControlReply(SerializedTag{}, std::move(text));
}

std::string ControlReply::TakeLine() && {
  if (text_.has_value()) return std::move(*text_);
  return SerializeReply(json_);
}

ControlServer::ControlServer(EventLoop& loop, std::string path, Handler handler, Logger log,
                             ControlAccess access, ControlLimits limits)
    : loop_(loop),
      path_(std::move(path)),
      handler_(std::move(handler)),
      log_(std::move(log)),
      access_(std::move(access)),
      limits_(limits) {}

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Listen(EventLoop& loop,
                                                                     const std::string& path,
                                                                     std::optional<gid_t> group,
                                                                     Handler handler, Logger log,
                                                                     ControlLimits limits) {
  ControlAccess access{.daemon_euid = ::geteuid(), .group = group, .group_name = {}};
  if (group.has_value()) access.group_name = GroupName(*group);
  GK_ASSIGN_OR_RETURN(const sockaddr_un addr, UnixAddress(path));
  GK_RETURN_IF_ERROR(RemoveStaleSocket(path, addr));

  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener) return ErrnoStatus(errno, "create the control socket");
  // The file bind() creates takes the socket inode's mode minus the umask. Restricting both means
  // the file is 0600 from its first moment: no window in which others could connect.
  if (::fchmod(listener.get(), 0600) != 0) {
    return ErrnoStatus(errno, "restrict the control socket's mode");
  }
  const mode_t old_umask = ::umask(0177);
  const int bound = ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  ::umask(old_umask);
  if (bound != 0) return ErrnoStatus(bind_errno, absl::StrCat("bind control socket ", path));

  std::unique_ptr<ControlServer> server(
      new ControlServer(loop, path, std::move(handler), std::move(log), std::move(access), limits));
  // From here on the destructor removes the socket file again on failure.
  server->listener_ = std::move(listener);
  if (group.has_value()) GK_RETURN_IF_ERROR(SetSocketFileAccess(path, group));
  if (::listen(server->listener_.get(), SOMAXCONN) != 0) {
    return ErrnoStatus(errno, absl::StrCat("listen on control socket ", path));
  }
  GK_ASSIGN_OR_RETURN(server->source_, loop.AddIo(server->listener_.get(), EPOLLIN,
                                                  [s = server.get()](uint32_t) { s->OnAccept(); }));
  return server;
}

absl::Status ControlServer::SetGroup(std::optional<gid_t> group) {
  // Who may connect from now on changes first: were the file change to fail half-way, the
  // server's own check still follows the configuration.
  access_.group = group;
  access_.group_name = group.has_value() ? GroupName(*group) : std::string();
  return SetSocketFileAccess(path_, group);
}

ControlServer::~ControlServer() {
  clients_.clear();
  resume_.reset();
  source_.reset();
  if (listener_) ::unlink(path_.c_str());
}

absl::Time ControlServer::Now() const {
  // Monotonic, so that a wall-clock step cannot stretch a rate-limit window.
  return absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

void ControlServer::OnAccept() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // Out of fds or memory, or something stranger: the connection stays queued, so back off
      // instead of spinning on a listener that stays readable.
      uint64_t suppressed = 0;
      if (overflow_log_.Allow(Now(), &suppressed)) {
        log_(absl::StrCat("<3>control: cannot accept connections: ", std::strerror(err),
                          "; pausing for ", absl::FormatDuration(kAcceptPause),
                          SuppressedNote(suppressed)));
      }
      PauseAccepting();
      return;
    }
    if (clients_.size() >= limits_.max_clients) {
      // Accepted and closed at once: the client learns immediately, and the backlog keeps moving.
      uint64_t suppressed = 0;
      if (overflow_log_.Allow(Now(), &suppressed)) {
        log_(absl::StrCat("<4>control: ", clients_.size(),
                          " clients connected already; closing new connections",
                          SuppressedNote(suppressed)));
      }
      continue;
    }
    Admit(std::move(fd));
  }
}

void ControlServer::PauseAccepting() {
  auto resume = loop_.AddTimer(kAcceptPause, [this] {
    sd_event_source_set_enabled(source_.get(), SD_EVENT_ON);
    resume_.reset();
  });
  // Without a timer to switch it back on, better a busy listener than a deaf one.
  if (!resume.ok()) return;
  resume_ = *std::move(resume);
  sd_event_source_set_enabled(source_.get(), SD_EVENT_OFF);
}

void ControlServer::Admit(UniqueFd fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    // Without credentials the peer cannot be authorized; it is dropped.
    const int err = errno;
    if (uint64_t suppressed = 0; refusal_log_.Allow(Now(), &suppressed)) {
      log_(absl::StrCat("<4>control: refused a client: cannot read its credentials: ",
                        std::strerror(err), SuppressedNote(suppressed)));
    }
    return;
  }
  PeerCredentials peer{.pid = cred.pid, .uid = cred.uid, .gid = cred.gid, .groups = {}};
  // Supplementary groups only matter when the cheaper checks did not already decide.
  if (access_.group.has_value() && peer.uid != 0 && peer.uid != access_.daemon_euid &&
      peer.gid != *access_.group) {
    auto groups = PeerGroups(fd.get());
    if (groups.ok()) {
      peer.groups = *std::move(groups);
    } else if (uint64_t suppressed = 0; refusal_log_.Allow(Now(), &suppressed)) {
      log_(absl::StrCat("<4>control: uid ", peer.uid, " pid ", peer.pid, ": ",
                        groups.status().message(), SuppressedNote(suppressed)));
    }
  }
  const absl::Status allowed = AuthorizePeer(peer, access_);

  clients_.push_back(Client{.fd = std::move(fd)});
  const auto client = std::prev(clients_.end());
  auto io = loop_.AddIo(client->fd.get(), EPOLLIN,
                        [this, client](uint32_t events) { OnIo(client, events); });
  if (!io.ok()) {
    log_(absl::StrCat("<3>control: dropping a client: ", io.status().message()));
    clients_.erase(client);
    return;
  }
  client->io = *std::move(io);
  if (!ArmTimer(client)) return;
  if (!allowed.ok()) {
    if (uint64_t suppressed = 0; refusal_log_.Allow(Now(), &suppressed)) {
      log_(absl::StrCat("<4>control: refused uid ", peer.uid, " gid ", peer.gid, " pid ", peer.pid,
                        ": ", allowed.message(), SuppressedNote(suppressed)));
    }
    // Answered without reading the request: nothing it says matters.
    StartReply(client,
               SerializeReply(ErrorReply(absl::StrCat("permission denied: ", allowed.message()))));
  }
}

bool ControlServer::ArmTimer(ClientIt client) {
  auto timer = loop_.AddTimer(limits_.client_timeout, [this, client] { OnTimeout(client); });
  if (!timer.ok()) {
    log_(absl::StrCat("<3>control: dropping a client: ", timer.status().message()));
    clients_.erase(client);
    return false;
  }
  client->timer = *std::move(timer);  // replaces (and so removes) an earlier one
  return true;
}

void ControlServer::OnTimeout(ClientIt client) {
  if (client->out.empty()) {
    // Best effort and without waiting: a client that never finished its line may not read either.
    const std::string text =
        SerializeReply(ErrorReply(absl::StrCat("timed out waiting for the request line (",
                                               absl::FormatDuration(limits_.client_timeout), ")")));
    (void)!::send(client->fd.get(), text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  clients_.erase(client);
}

void ControlServer::OnIo(ClientIt client, uint32_t /*events*/) {
  // While replying only EPOLLOUT is asked for; EPOLLHUP/EPOLLERR come regardless, and send()
  // then reports what happened.
  if (!client->out.empty()) {
    Flush(client);
    return;
  }
  ReadRequest(client);
}

bool ControlServer::ReadRequest(ClientIt client) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(client->fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      client->in.append(buf, static_cast<size_t>(n));
      const RequestFrame frame = FindRequestLine(client->in);
      if (frame.state == RequestFrame::State::kIncomplete) continue;
      StartReply(client, frame.state == RequestFrame::State::kTooLarge
                             ? SerializeReply(ErrorReply(TooLargeMessage()))
                             : Handle(frame.line));
      return false;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    // EOF before a whole line, or ECONNRESET: the client gave up, which is its business; no log.
    clients_.erase(client);
    return false;
  }
}

std::string ControlServer::Handle(absl::string_view line) {
  absl::StatusOr<nlohmann::json> request = ParseRequest(line);
  if (!request.ok()) return SerializeReply(ErrorReply(request.status().message()));
  const std::string command = (*request)["command"].get<std::string>();
  try {
    return handler_(*request).TakeLine();
  } catch (const nlohmann::json::exception& e) {
    // A handler bug must cost one reply, not the daemon. The command is quoted as JSON so that
    // a client cannot put line breaks into the journal.
    const std::string quoted = SerializeReply(nlohmann::json(command));
    log_(absl::StrCat("<3>control: handling ", quoted.substr(0, quoted.size() - 1),
                      " failed: ", e.what()));
    return SerializeReply(
        ErrorReply(absl::StrCat("internal error while handling \"", command, "\": ", e.what())));
  }
}

void ControlServer::StartReply(ClientIt client, std::string line) {
  client->out = std::move(line);
  client->written = 0;
  std::string().swap(client->in);
  // A fresh deadline for taking the reply, which can be a few hundred KB.
  if (!ArmTimer(client)) return;
  Flush(client);
}

void ControlServer::Flush(ClientIt client) {
  while (client->written < client->out.size()) {
    const ssize_t n = ::send(client->fd.get(), client->out.data() + client->written,
                             client->out.size() - client->written, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      client->written += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // Only EPOLLOUT from now on: unread request bytes would keep EPOLLIN firing.
      if (sd_event_source_set_io_events(client->io.get(), EPOLLOUT) < 0) break;
      return;
    }
    break;  // EPIPE, ECONNRESET: the client left without its reply; nothing to report
  }
  // Done (or hopeless): closing marks the end of the reply.
  const bool large = client->out.size() >= kTrimAfterReplyBytes;
  clients_.erase(client);
  // Without this the daemon's RSS keeps the high-water mark of its largest reply for good.
  if (large) ::malloc_trim(0);
}

}  // namespace gatekeeper::daemon
