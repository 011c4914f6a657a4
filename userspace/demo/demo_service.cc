// gatekeeper-demo-service: the service of scripts/demo. An ordinary socket-activated program: it
// takes its listening socket from systemd's LISTEN_FDS protocol (sd_listen_fds_with_names), so
// it runs the same under gatekeeper and under a systemd .socket unit, and greets every client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main() {
  char** names = nullptr;
  const int n = sd_listen_fds_with_names(/*unset_environment=*/1, &names);
  if (n < 1) {
    std::fprintf(stderr, "no socket passed (LISTEN_FDS); start me through gatekeeper\n");
    return 1;
  }
  const std::string name = names != nullptr && names[0] != nullptr ? names[0] : "?";
  std::fprintf(stderr, "started with %d socket(s), the first named \"%s\"\n", n, name.c_str());
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    const int conn =
        accept4(SD_LISTEN_FDS_START, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (conn < 0) continue;
    char addr[INET6_ADDRSTRLEN] = "?";
    if (peer.ss_family == AF_INET6) {
      const in6_addr& a6 = reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr;
      // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d; print it as IPv4.
      if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        inet_ntop(AF_INET, &a6.s6_addr[12], addr, sizeof(addr));
      } else {
        inet_ntop(AF_INET6, &a6, addr, sizeof(addr));
      }
    } else if (peer.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, addr, sizeof(addr));
    }
    const std::string hello = "hello " + std::string(addr) + ", this is the " + name +
                              " service, pid " + std::to_string(getpid()) + "\n";
    (void)!send(conn, hello.data(), hello.size(), MSG_NOSIGNAL);
    close(conn);
  }
}
