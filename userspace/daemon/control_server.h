// The control socket: one JSON request line in, one JSON reply out, then the connection closes.
// Only peers whose SO_PEERCRED uid is root (or the daemon's own uid) are served.
#ifndef GATEKEEPER_DAEMON_CONTROL_SERVER_H_
#define GATEKEEPER_DAEMON_CONTROL_SERVER_H_

#include <sys/types.h>

#include <functional>
#include <list>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "daemon/event_loop.h"
#include "nlohmann/json.hpp"

namespace gatekeeper::daemon {

inline constexpr size_t kMaxRequestBytes = size_t{64} * 1024;

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  using Logger = std::function<void(const std::string&)>;

  // Binds `path` (replacing a stale socket file) with mode 0600.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Listen(EventLoop& loop,
                                                               const std::string& path,
                                                               Handler handler, Logger log);
  ~ControlServer();

 private:
  struct Client {
    common::UniqueFd fd;
    EventSource source;
    std::string buffer;
  };
  ControlServer(EventLoop& loop, std::string path, Handler handler, Logger log)
      : loop_(loop), path_(std::move(path)), handler_(std::move(handler)), log_(std::move(log)) {}
  void OnAccept();
  void OnReadable(std::list<Client>::iterator client);
  void Reply(Client& client, const nlohmann::json& reply);

  EventLoop& loop_;
  std::string path_;
  Handler handler_;
  Logger log_;
  common::UniqueFd listener_;
  EventSource source_;
  std::list<Client> clients_;
};

// The client side, for the CLI: sends `request` and waits up to `timeout_ms` for the reply.
absl::StatusOr<nlohmann::json> ControlRequest(const std::string& path,
                                              const nlohmann::json& request, int timeout_ms);

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_CONTROL_SERVER_H_
