// The control socket: one JSON request line in, one JSON reply line out, then the connection
// closes. The socket file is 0600, or 0660 owned by the [Control] Group=; every peer is checked
// again with SO_PEERCRED/SO_PEERGROUPS, since file permissions alone can be loosened by accident.
#ifndef GATEKEEPER_DAEMON_CONTROL_SERVER_H_
#define GATEKEEPER_DAEMON_CONTROL_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "daemon/control_protocol.h"
#include "daemon/event_loop.h"
#include "nlohmann/json.hpp"

namespace gatekeeper::daemon {

struct ControlLimits {
  // A client must send its whole request line within this, and then take its reply within this.
  absl::Duration client_timeout = absl::Seconds(5);
  // Connections beyond this are accepted and closed at once, so the backlog never fills up.
  size_t max_clients = 1024;
};

// A handler's reply: a JSON value, or the text of one already serialized. A large reply (status
// of many gates) is written piece by piece: its whole tree would take several times its text.
class ControlReply {
 public:
  // Implicit, so that handlers go on returning plain JSON values.
  // NOLINTNEXTLINE(google-explicit-constructor)
  ControlReply(nlohmann::json reply) : json_(std::move(reply)) {}
  // `text`: one JSON value as SerializeReply writes it, without the line's newline.
  static ControlReply Serialized(std::string text);

  // The reply line, newline included.
  std::string TakeLine() &&;

 private:
  struct SerializedTag {};
  ControlReply(SerializedTag /*tag*/, std::string line) : text_(std::move(line)) {}
  nlohmann::json json_;
  std::optional<std::string> text_;
};

class ControlServer {
 public:
  // Gets a request that ParseRequest accepted; an {"error": ...} reply is passed on as is. It must
  // not destroy the server. nlohmann::json exceptions it throws become an error reply.
  using Handler = std::function<ControlReply(const nlohmann::json& request)>;
  // One journal line with its "<N>" priority prefix.
  using Logger = std::function<void(const std::string&)>;

  // Binds `path`, replacing a stale socket file (but not one a live daemon still listens on).
  // Mode 0600, or 0660 owned by `group` when given; never looser while being set up.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Listen(EventLoop& loop,
                                                               const std::string& path,
                                                               std::optional<gid_t> group,
                                                               Handler handler, Logger log,
                                                               ControlLimits limits = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // For a reload of [Control] Group=: new connections are judged by `group` at once, and the
  // socket file's group and mode follow (never wider than the old or the new setting allows).
  // Connections already accepted finish their one request.
  absl::Status SetGroup(std::optional<gid_t> group);

  size_t client_count() const { return clients_.size(); }

 private:
  struct Client {
    common::UniqueFd fd;
    EventSource io;
    EventSource timer;
    std::string in;
    std::string out;  // the reply; once set, the client is only written to
    size_t written = 0;
  };
  using ClientIt = std::list<Client>::iterator;

  ControlServer(EventLoop& loop, std::string path, Handler handler, Logger log,
                ControlAccess access, ControlLimits limits);
  void OnAccept();
  void PauseAccepting();
  void Admit(common::UniqueFd fd);
  void OnIo(ClientIt client, uint32_t events);
  void OnTimeout(ClientIt client);
  // Reads what is there; false when the client is gone (erased).
  bool ReadRequest(ClientIt client);
  // The reply line.
  std::string Handle(absl::string_view line);
  // Queues the reply `line` and writes what fits; the rest goes out on EPOLLOUT.
  void StartReply(ClientIt client, std::string line);
  void Flush(ClientIt client);
  // (Re)starts the client's deadline; false when that failed and the client is gone.
  bool ArmTimer(ClientIt client);
  absl::Time Now() const;

  EventLoop& loop_;
  std::string path_;
  Handler handler_;
  Logger log_;
  ControlAccess access_;
  ControlLimits limits_;
  common::UniqueFd listener_;
  EventSource source_;
  EventSource resume_;  // re-enables accepting after running out of fds
  std::list<Client> clients_;
  LogRateLimiter refusal_log_{absl::Seconds(1), 10};
  LogRateLimiter overflow_log_{absl::Seconds(1), 1};
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_CONTROL_SERVER_H_
