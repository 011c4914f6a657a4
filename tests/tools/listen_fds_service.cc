// gk-test-service: a small socket-activated service for the tests. It checks that it was started
// by the LISTEN_FDS protocol exactly (sd_listen_fds(3)) and then serves its sockets, answering so
// that a test can tell which socket and which process served it.
//
//   gk-test-service [--print-env] [--exit-immediately | --crash-after-first] [ARG...]
//
// Checks, each failing with a message on stderr and exit status 3:
//   LISTEN_PID is our pid; LISTEN_FDS is a positive number; LISTEN_FDNAMES has that many names;
//   fds 3 .. 3+LISTEN_FDS-1 are sockets; no other fd than 0, 1, 2 and those is open.
// Then:
//   --print-env          writes PID=, every LISTEN_*, REMOTE_*, NOTIFY_SOCKET and WATCHDOG_*
//                        variable, CWD= and ARG=<arg> for each ARG, then "END", to stdout.
//   --exit-immediately   exits with status 1 (a crash loop).
//   --crash-after-first  answers the first line of the first connection, then exits with status 1
//                        without accepting more: later clients wait in the backlog for the next
//                        instance.
// Serving: a stream listener's connections get "<name> <pid>[ <REMOTE_ADDR>]\n" for every line
// they send; a datagram socket answers each datagram the same way. With
// LISTEN_FDNAMES=connection (Accept=yes) fd 3 is one connection, served until the peer closes it,
// then the service exits 0. Signal state is left untouched, so /proc/<pid>/status shows what the
// service inherited; replies use MSG_NOSIGNAL for that reason.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace {

constexpr int kFirstFd = 3;

struct Options {
  bool print_env = false;
  bool exit_immediately = false;
  bool crash_after_first = false;
  std::vector<std::string> args;
};

[[noreturn]] void Die(int status, const std::string& message) {
  std::fprintf(stderr, "gk-test-service: %s\n", message.c_str());
  std::exit(status);
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--print-env") {
      o.print_env = true;
    } else if (a == "--exit-immediately") {
      o.exit_immediately = true;
    } else if (a == "--crash-after-first") {
      o.crash_after_first = true;
    } else if (a.rfind("--", 0) == 0) {
      Die(2, "unknown option " + a);
    } else {
      o.args.push_back(a);
    }
  }
  return o;
}

std::string FdTarget(int dir, const char* entry) {
  char target[512] = {};
  const ssize_t n = readlinkat(dir, entry, target, sizeof(target) - 1);
  return n > 0 ? std::string(target, n) : "?";
}

// Returns the names, after checking the protocol and the fd table.
std::vector<std::string> CheckProtocol() {
  const std::string pid_text = Env("LISTEN_PID");
  if (pid_text.empty()) Die(3, "LISTEN_PID is not set");
  if (pid_text != std::to_string(getpid())) {
    Die(3, "LISTEN_PID=" + pid_text + " but my pid is " + std::to_string(getpid()));
  }
  const std::string fds_text = Env("LISTEN_FDS");
  char* end = nullptr;
  const long count = std::strtol(fds_text.c_str(), &end, 10);
  if (fds_text.empty() || *end != '\0' || count <= 0 || count > 1000) {
    Die(3, "LISTEN_FDS=\"" + fds_text + "\" is not a positive number");
  }
  std::vector<std::string> names = Split(Env("LISTEN_FDNAMES"), ':');
  if (static_cast<long>(names.size()) != count) {
    Die(3, "LISTEN_FDNAMES=\"" + Env("LISTEN_FDNAMES") + "\" does not name " + fds_text + " fds");
  }
  for (int fd = kFirstFd; fd < kFirstFd + count; ++fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) Die(3, "fd " + std::to_string(fd) + " is not open");
    if (!S_ISSOCK(st.st_mode)) Die(3, "fd " + std::to_string(fd) + " is not a socket");
  }
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) Die(3, std::string("opendir /proc/self/fd: ") + std::strerror(errno));
  std::string extra;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == dirfd(dir) || fd < kFirstFd + count) continue;
    extra += " " + std::to_string(fd) + "->" + FdTarget(dirfd(dir), e->d_name);
  }
  closedir(dir);
  if (!extra.empty()) Die(3, "unexpected open fds:" + extra);
  return names;
}

void PrintEnv(const Options& options) {
  std::string out = "PID=" + std::to_string(getpid()) + "\n";
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    for (const char* prefix : {"LISTEN_", "REMOTE_", "NOTIFY_SOCKET=", "WATCHDOG_"}) {
      if (entry.rfind(prefix, 0) == 0) {
        out += entry + "\n";
        break;
      }
    }
  }
  char cwd[4096] = {};
  if (getcwd(cwd, sizeof(cwd)) != nullptr) out += std::string("CWD=") + cwd + "\n";
  for (const std::string& a : options.args) out += "ARG=" + a + "\n";
  out += "END\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

std::string Reply(const std::string& name) {
  std::string reply = name + " " + std::to_string(getpid());
  if (!Env("REMOTE_ADDR").empty()) reply += " " + Env("REMOTE_ADDR");
  return reply + "\n";
}

int SocketOption(int fd, int option) {
  int value = 0;
  socklen_t length = sizeof(value);
  getsockopt(fd, SOL_SOCKET, option, &value, &length);
  return value;
}

struct Connection {
  std::string name;
  std::string buffer;
};

// Reads what the connection sent and answers each complete line. False when it is finished.
bool ServeInput(int fd, Connection& c, const Options& options) {
  char data[4096];
  const ssize_t n = recv(fd, data, sizeof(data), MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n == 0) return false;
  c.buffer.append(data, n);
  size_t newline;
  while ((newline = c.buffer.find('\n')) != std::string::npos) {
    c.buffer.erase(0, newline + 1);
    const std::string reply = Reply(c.name);
    if (send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) return false;
    if (options.crash_after_first) {
      close(fd);
      std::exit(1);
    }
  }
  return true;
}

[[noreturn]] void ServeConnection(const Options& options) {
  Connection c{"connection", ""};
  for (;;) {
    pollfd p{kFirstFd, POLLIN, 0};
    if (poll(&p, 1, -1) < 0 && errno != EINTR) Die(4, "poll failed");
    if (!ServeInput(kFirstFd, c, options)) std::exit(0);
  }
}

[[noreturn]] void ServeListeners(const std::vector<std::string>& names, const Options& options) {
  std::map<int, std::string> listeners;  // stream listeners and datagram sockets
  std::map<int, Connection> connections;
  for (size_t i = 0; i < names.size(); ++i) listeners[kFirstFd + static_cast<int>(i)] = names[i];
  for (;;) {
    // Connections first: with --crash-after-first the service must exit before it accepts a
    // client that arrived meanwhile, so that client is left for the next instance.
    std::vector<pollfd> fds;
    for (const auto& [fd, c] : connections) fds.push_back({fd, POLLIN, 0});
    for (const auto& [fd, name] : listeners) fds.push_back({fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Die(4, std::string("poll: ") + std::strerror(errno));
    }
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (auto c = connections.find(p.fd); c != connections.end()) {
        if (!ServeInput(p.fd, c->second, options)) {
          close(p.fd);
          connections.erase(c);
        }
        continue;
      }
      const std::string& name = listeners[p.fd];
      if (SocketOption(p.fd, SO_TYPE) == SOCK_DGRAM) {
        char data[65536];
        sockaddr_storage peer{};
        socklen_t length = sizeof(peer);
        if (recvfrom(p.fd, data, sizeof(data), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&peer),
                     &length) >= 0) {
          const std::string reply = Reply(name);
          sendto(p.fd, reply.data(), reply.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&peer),
                 length);
        }
        continue;
      }
      const int fd = accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) connections[fd] = Connection{name, ""};
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseArgs(argc, argv);
  const std::vector<std::string> names = CheckProtocol();
  if (options.print_env) PrintEnv(options);
  if (options.exit_immediately) return 1;
  if (names.size() == 1 && names[0] == "connection") ServeConnection(options);
  for (size_t i = 0; i < names.size(); ++i) {
    const int fd = kFirstFd + static_cast<int>(i);
    if (SocketOption(fd, SO_TYPE) == SOCK_STREAM && SocketOption(fd, SO_ACCEPTCONN) == 0) {
      Die(3, "fd " + std::to_string(fd) + " (" + names[i] +
                 ") is a stream socket that is not "
                 "listening; only LISTEN_FDNAMES=connection passes a connection");
    }
  }
  ServeListeners(names, options);
}
