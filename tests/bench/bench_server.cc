// gk-bench-server: the service side of connection-rate benchmarks (gk-conn-rate is the client).
// Each connection sends one byte, gets it back uppercased and closes first, so TIME_WAIT stays on
// the client and the server measures only accept/exchange/close.
//   gk-bench-server                      socket-activated (LISTEN_FDS=1, LISTEN_PID=our pid): fd 3
//   gk-bench-server --listen ADDR:PORT   binds itself: 192.0.2.1:9000 or [2001:db8::1]:9000
// Runs until SIGTERM or SIGINT, then exits 0. Exit 2: usage error, 1: runtime failure.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "bench_cli.h"
#include "common/socket_address.h"
#include "common/unique_fd.h"

namespace {

using gatekeeper::common::SocketAddress;
using gatekeeper::common::UniqueFd;

constexpr int kActivatedFd = 3;  // SD_LISTEN_FDS_START
constexpr int kBacklog = 4096;

[[noreturn]] void Usage(const std::string& message) {
  std::fprintf(stderr,
               "gk-bench-server: %s\nusage: gk-bench-server [--listen ADDR:PORT]\n"
               "  without --listen, LISTEN_FDS=1 and LISTEN_PID=<this pid> must pass fd 3\n",
               message.c_str());
  std::exit(2);
}

[[noreturn]] void Fail(const std::string& what, int err) {
  std::fprintf(stderr, "gk-bench-server: %s: %s\n", what.c_str(), std::strerror(err));
  std::exit(1);
}

// "192.0.2.1:9000" or "[2001:db8::1]:9000"; nullopt when malformed.
std::optional<SocketAddress> ParseHostPort(absl::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) return std::nullopt;
  absl::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != absl::string_view::npos) {
    return std::nullopt;  // bare IPv6 is ambiguous with the port separator
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port == 0 || port > 65535) {
    return std::nullopt;
  }
  auto address = SocketAddress::Parse(host, static_cast<uint16_t>(port));
  if (!address.ok()) return std::nullopt;
  return *address;
}

// Thousands of connections in flight need more fds than the usual soft limit of 1024.
void RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) Fail("getrlimit(RLIMIT_NOFILE)", errno);
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) Fail("setrlimit(RLIMIT_NOFILE)", errno);
}

// The activated socket, or nullopt when this process was not socket-activated.
std::optional<UniqueFd> ActivatedSocket() {
  const char* pid_text = std::getenv("LISTEN_PID");
  const char* fds_text = std::getenv("LISTEN_FDS");
  int64_t pid = 0;
  if (pid_text == nullptr || fds_text == nullptr || !absl::SimpleAtoi(pid_text, &pid) ||
      pid != getpid()) {
    return std::nullopt;
  }
  if (absl::string_view(fds_text) != "1") {
    Usage(absl::StrCat("LISTEN_FDS=", fds_text, ": expected exactly one socket"));
  }
  // Children (there are none) must not believe the fds are theirs.
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  int listening = 0;
  socklen_t size = sizeof(listening);
  if (getsockopt(kActivatedFd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0) {
    Fail("LISTEN_FDS=1 but fd 3 is not a socket", errno);
  }
  if (!listening) Usage("LISTEN_FDS=1 but fd 3 is not a listening socket");
  return UniqueFd(kActivatedFd);
}

UniqueFd Listen(const SocketAddress& address) {
  const std::string where = address.ToString();
  UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) Fail(absl::StrCat("socket for ", where), errno);
  const int on = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) {
    Fail(absl::StrCat("SO_REUSEADDR on ", where), errno);
  }
  if (bind(fd.get(), address.get(), address.length) != 0) {
    Fail(absl::StrCat("--listen ", where, ": bind"), errno);
  }
  if (listen(fd.get(), kBacklog) != 0) Fail(absl::StrCat("--listen ", where, ": listen"), errno);
  return fd;
}

// One connection's progress; the index into the table is the fd.
enum class State : uint8_t { kUnused, kAwaitRequest, kAwaitEof };

class Server {
 public:
  Server(UniqueFd listener, UniqueFd signals)
      : listener_(std::move(listener)), signals_(std::move(signals)) {}

  void Run() {
    epoll_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) Fail("epoll_create1", errno);
    Watch(listener_.get(), EPOLLIN);
    Watch(signals_.get(), EPOLLIN);
    // Held so that EMFILE can be answered by accepting and dropping instead of spinning.
    spare_ = UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
    std::vector<epoll_event> events(1024);
    for (;;) {
      const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail("epoll_wait", errno);
      }
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == signals_.get()) return;
        if (fd == listener_.get()) {
          AcceptAll();
        } else {
          Serve(fd);
        }
      }
    }
  }

 private:
  void Watch(int fd, uint32_t events) {
    epoll_event event{.events = events, .data = {.fd = fd}};
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) Fail("epoll_ctl ADD", errno);
  }

  void AcceptAll() {
    for (;;) {
      const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        Add(UniqueFd(fd));
        continue;
      }
      switch (errno) {
        case EAGAIN:
          return;
        case EINTR:
        case ECONNABORTED:  // the peer gave up while queued
          continue;
        case EMFILE:
        case ENFILE:
          // The listener stays readable under level triggering: take the connection off the
          // queue and drop it so the loop does not spin, and say so once.
          if (!warned_emfile_) {
            std::fprintf(stderr, "gk-bench-server: accept4: %s; dropping connections\n",
                         std::strerror(errno));
            warned_emfile_ = true;
          }
          if (!spare_) return;
          spare_.reset();
          { UniqueFd dropped(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC)); }
          spare_ = UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
          continue;
        case ENOBUFS:
        case ENOMEM:
        case EPERM:  // a firewall rule refused it
        case EPROTO:
          // Transient per-connection failures; accept(2) says retry. Wait for the next event.
          return;
        default:
          Fail("accept4", errno);
      }
    }
  }

  void Add(UniqueFd fd) {
    const size_t index = static_cast<size_t>(fd.get());
    if (index >= conns_.size()) {
      conns_.resize(index + 1);
      states_.resize(index + 1, State::kUnused);
    }
    Watch(fd.get(), EPOLLIN | EPOLLRDHUP);
    states_[index] = State::kAwaitRequest;
    conns_[index] = std::move(fd);
  }

  void Close(int fd) {
    // Closing removes the fd from the epoll set, as nothing else holds it.
    states_[fd] = State::kUnused;
    conns_[fd].reset();
  }

  // Level-triggered: one read per event is enough, a remaining byte or EOF re-reports.
  void Serve(int fd) {
    char byte = 0;
    const ssize_t n = recv(fd, &byte, 1, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0 || states_[fd] == State::kAwaitEof) {
      // EOF, a reset, or bytes after the exchange: the connection is finished either way.
      Close(fd);
      return;
    }
    const char reply = static_cast<char>(std::toupper(static_cast<unsigned char>(byte)));
    // A fresh socket's send buffer always has room for one byte; anything else is a dead peer.
    if (send(fd, &reply, 1, MSG_NOSIGNAL) != 1) {
      Close(fd);
      return;
    }
    states_[fd] = State::kAwaitEof;
  }

  UniqueFd listener_;
  UniqueFd signals_;
  UniqueFd epoll_;
  UniqueFd spare_;
  std::vector<UniqueFd> conns_;
  std::vector<State> states_;
  bool warned_emfile_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::optional<SocketAddress> listen_address;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    absl::string_view value;
    if (arg == "--help" || arg == "-h") Usage("connection-rate benchmark server");
    if (arg == "--listen") {
      if (i + 1 >= argc) Usage("--listen needs ADDR:PORT");
      value = argv[++i];
    } else if (arg.substr(0, 9) == "--listen=") {
      value = arg.substr(9);
    } else {
      Usage(absl::StrCat("unknown argument \"", arg, "\""));
    }
    listen_address = ParseHostPort(value);
    if (!listen_address) {
      Usage(absl::StrCat("--listen \"", value, "\": expected IPV4:PORT or [IPV6]:PORT"));
    }
  }

  std::optional<UniqueFd> listener = ActivatedSocket();
  if (listener && listen_address) Usage("--listen given, but the socket is already activated");
  if (!listener && !listen_address) Usage("no --listen and not socket-activated");
  RaiseFdLimit();
  if (listener) {
    // The activated socket may be blocking; accept-until-EAGAIN needs it non-blocking.
    const int flags = fcntl(listener->get(), F_GETFL);
    if (flags < 0 || fcntl(listener->get(), F_SETFL, flags | O_NONBLOCK) != 0) {
      Fail("fcntl O_NONBLOCK on fd 3", errno);
    }
    fcntl(listener->get(), F_SETFD, FD_CLOEXEC);
  } else {
    listener = Listen(*listen_address);
  }

  UniqueFd signals = gatekeeper::bench::StopSignals();
  if (!signals) Fail("signalfd", errno);

  Server server(std::move(*listener), std::move(signals));
  server.Run();
  return 0;
}
