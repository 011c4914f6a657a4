// `--metrics-listen ADDR:PORT`: serves the Prometheus text exposition at /metrics over plain
// HTTP. libmicrohttpd does the HTTP; it runs on the daemon's event loop (no threads), and wakes
// the loop only for socket activity or a pending connection timeout, never periodically.
#ifndef GATEKEEPER_DAEMON_METRICS_HTTP_H_
#define GATEKEEPER_DAEMON_METRICS_HTTP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/socket_address.h"
#include "daemon/event_loop.h"

// libmicrohttpd is dlopen()ed on first use (daemon/microhttpd_library.h): users of this header
// do not see it, and a process that never serves metrics never loads it.
struct MHD_Daemon;
struct MHD_Connection;

namespace gatekeeper::daemon {

struct MicrohttpdLibrary;

// "127.0.0.1:9100", "0.0.0.0:9100", "[::1]:9100", "[::]:9100"; port 0 picks a free port.
// InvalidArgument naming --metrics-listen for anything else (no port, hostnames, bare IPv6).
absl::StatusOr<common::SocketAddress> ParseMetricsListen(absl::string_view text);

class MetricsHttpServer {
 public:
  using Renderer = std::function<std::string()>;
  using Logger = std::function<void(const std::string&)>;

  // Loads libmicrohttpd unless an earlier call did, and returns what Start() would say about it:
  // FailedPrecondition naming the library and the loader's reason when it or one of its
  // functions is missing. For callers that must fail before they change anything else.
  static absl::Status LoadLibrary();

  // Loads libmicrohttpd as LoadLibrary() does, binds `listen` (as ParseMetricsListen accepts it)
  // and serves until destroyed. `render` runs once per GET/HEAD /metrics; `log` gets
  // "<N>"-prefixed lines about client-side problems.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(EventLoop& loop,
                                                                  const std::string& listen,
                                                                  Renderer render, Logger log);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port: the chosen one when `listen` asked for port 0.
  uint16_t port() const { return port_; }

 private:
  MetricsHttpServer(const MicrohttpdLibrary& mhd, EventLoop& loop, Renderer render, Logger log)
      : mhd_(mhd), loop_(loop), render_(std::move(render)), log_(std::move(log)) {}
  void Process();
  void ArmTimeout();
  bool Answer(MHD_Connection* connection, absl::string_view url, absl::string_view method);
  void OnLibraryMessage(std::string message);

  const MicrohttpdLibrary& mhd_;
  EventLoop& loop_;
  Renderer render_;
  Logger log_;
  MHD_Daemon* daemon_ = nullptr;
  // Library messages while starting: they explain a failed start, so they go into its status.
  std::string start_messages_;
  bool starting_ = true;
  uint16_t port_ = 0;
  EventSource io_;
  EventSource timeout_;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_METRICS_HTTP_H_
