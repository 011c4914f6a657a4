#include "daemon/metrics_http.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "daemon/microhttpd_library.h"

namespace gatekeeper::daemon {
namespace {

using common::ErrnoStatus;
using common::SocketAddress;
using common::UniqueFd;

constexpr unsigned kConnectionTimeoutSeconds = 10;
constexpr unsigned kConnectionLimit = 64;
constexpr int kListenBacklog = 64;
constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kTextContentType[] = "text/plain; charset=utf-8";

absl::Status BadListen(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--metrics-listen \"", text, "\": ", why,
                                                 " (expected ADDR:PORT, e.g. 127.0.0.1:9100 or "
                                                 "[::1]:9100)"));
}

// MUST_COPY: bodies are temporaries (a fresh render per scrape), gone before MHD sends them.
bool Respond(const MicrohttpdLibrary& mhd, MHD_Connection* connection, unsigned status,
             absl::string_view body, const char* content_type, const char* allow = nullptr) {
  MHD_Response* response = mhd.create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return false;
  bool ok =
      mhd.add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) == MHD_YES;
  if (ok && allow != nullptr) {
    ok = mhd.add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow) == MHD_YES;
  }
  if (ok) ok = mhd.queue_response(connection, status, response) == MHD_YES;
  mhd.destroy_response(response);
  return ok;
}

}  // namespace

absl::StatusOr<SocketAddress> ParseMetricsListen(absl::string_view text) {
  absl::string_view host;
  absl::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return BadListen(text, "no closing ']'");
    host = text.substr(1, close - 1);
    if (host.find(':') == absl::string_view::npos) {
      return BadListen(text, "brackets are only for IPv6 addresses");
    }
    if (close + 1 == text.size() || text[close + 1] != ':') return BadListen(text, "missing port");
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return BadListen(text, "missing port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return BadListen(text, "put an IPv6 address in brackets");
    }
  }
  if (host.empty()) return BadListen(text, "missing address (0.0.0.0 or [::] listens on all)");
  if (port.empty()) return BadListen(text, "missing port");
  // Parsed by hand: SimpleAtoi would also take a sign and surrounding whitespace.
  const bool digits = !port.empty() && port.size() <= 5 &&
                      std::all_of(port.begin(), port.end(), absl::ascii_isdigit);
  uint32_t number = 0;
  for (const char c : digits ? port : absl::string_view()) number = number * 10 + (c - '0');
  if (!digits || number > 65535) {
    return BadListen(text, absl::StrCat("invalid port \"", port, "\" (0 to 65535)"));
  }
  auto address = SocketAddress::Parse(host, static_cast<uint16_t>(number));
  if (!address.ok()) return BadListen(text, address.status().message());
  return address;
}

absl::Status MetricsHttpServer::LoadLibrary() {
  absl::StatusOr<const MicrohttpdLibrary*> mhd = Microhttpd();
  if (mhd.ok()) return absl::OkStatus();
  return absl::Status(mhd.status().code(), absl::StrCat("--metrics-listen needs libmicrohttpd: ",
                                                        mhd.status().message()));
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    EventLoop& loop, const std::string& listen, Renderer render, Logger log) {
  GK_ASSIGN_OR_RETURN(const SocketAddress address, ParseMetricsListen(listen));
  GK_RETURN_IF_ERROR(LoadLibrary());
  const MicrohttpdLibrary& mhd = **Microhttpd();  // loaded: LoadLibrary() said so
  // Our own socket rather than MHD's: bind errors then carry errno text, and the address family
  // follows the address instead of MHD's flags.
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("create a socket for --metrics-listen ", listen));
  const int on = 1;
  const int off = 0;
  // Restarting while old scrape connections sit in TIME_WAIT must not fail; a second listener
  // on the same port is still refused (Linux requires SO_REUSEPORT for that).
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) {
    return ErrnoStatus(errno, "set SO_REUSEADDR on the metrics socket");
  }
  // "[::]" means every address, IPv4 included, whatever net.ipv6.bindv6only says.
  if (address.family() == AF_INET6 &&
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0) {
    return ErrnoStatus(errno, "clear IPV6_V6ONLY on the metrics socket");
  }
  if (::bind(fd.get(), address.get(), address.length) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bind --metrics-listen ", listen));
  }
  if (::listen(fd.get(), kListenBacklog) != 0) {
    return ErrnoStatus(errno, absl::StrCat("listen on --metrics-listen ", listen));
  }

  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(mhd, loop, std::move(render), std::move(log)));
  const MHD_LogCallback on_message = [](void* cls, const char* format, va_list args) {
    char text[512];
    std::vsnprintf(text, sizeof(text), format, args);
    static_cast<MetricsHttpServer*>(cls)->OnLibraryMessage(text);
  };
  const MHD_AccessHandlerCallback on_request =
      [](void* cls, MHD_Connection* connection, const char* url, const char* method,
         const char* /*version*/, const char* /*upload_data*/, size_t* /*upload_data_size*/,
         void** /*request_state*/) -> MHD_Result {
    return static_cast<MetricsHttpServer*>(cls)->Answer(connection, url, method) ? MHD_YES : MHD_NO;
  };
  // No internal thread: MHD_USE_EPOLL without MHD_USE_INTERNAL_POLLING_THREAD leaves the polling
  // to us through MHD's epoll fd. The logger goes first so that no option parsing message
  // reaches stderr.
  const unsigned flags =
      MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (address.family() == AF_INET6 ? MHD_USE_DUAL_STACK : 0);
  server->daemon_ = mhd.start_daemon(flags, /*port=*/0, /*apc=*/nullptr, nullptr, on_request,
                                     server.get(), MHD_OPTION_EXTERNAL_LOGGER, on_message,
                                     server.get(), MHD_OPTION_LISTEN_SOCKET, fd.get(),
                                     MHD_OPTION_CONNECTION_TIMEOUT, kConnectionTimeoutSeconds,
                                     MHD_OPTION_CONNECTION_LIMIT, kConnectionLimit, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    // A failed start leaves the listening socket to us (checked for 0.9.75), so `fd` closes it.
    return absl::InternalError(
        absl::StrCat("start the HTTP server for --metrics-listen ", listen, ": ",
                     server->start_messages_.empty() ? "libmicrohttpd gave no reason"
                                                     : server->start_messages_));
  }
  (void)fd.release();  // MHD_stop_daemon closes it from now on
  server->starting_ = false;
  if (!server->start_messages_.empty()) {
    server->log_("<4>metrics endpoint: " + server->start_messages_);
  }

  const MHD_DaemonInfo* port = mhd.get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  const MHD_DaemonInfo* epoll = mhd.get_daemon_info(server->daemon_, MHD_DAEMON_INFO_EPOLL_FD);
  if (port == nullptr || epoll == nullptr) {
    return absl::InternalError("libmicrohttpd did not report its port and epoll fd");
  }
  server->port_ = port->port;
  // MHD's epoll set holds the listener and every connection: one fd on our loop covers them all.
  GK_ASSIGN_OR_RETURN(server->io_, loop.AddIo(epoll->epoll_fd, EPOLLIN,
                                              [s = server.get()](uint32_t) { s->Process(); }));
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  // The loop lets go of MHD's epoll fd before MHD_stop_daemon closes it.
  io_.reset();
  timeout_.reset();
  if (daemon_ != nullptr) mhd_.stop_daemon(daemon_);
}

void MetricsHttpServer::Process() {
  mhd_.run(daemon_);
  ArmTimeout();
}

void MetricsHttpServer::ArmTimeout() {
  timeout_.reset();
  MHD_UNSIGNED_LONG_LONG ms = 0;
  // MHD_NO means no connection is open: the daemon stays idle with no timer at all.
  if (mhd_.get_timeout(daemon_, &ms) != MHD_YES) return;
  auto timer = loop_.AddTimer(absl::Milliseconds(ms), [this] { Process(); });
  if (!timer.ok()) {
    // Connections are then only closed by their own activity, not by the idle timeout.
    log_(absl::StrCat("<4>metrics endpoint: ", timer.status().message()));
    return;
  }
  // sd-event's default 250 ms slack would hold back work MHD asks for right away (timeout 0:
  // a reply ready to send after the request was read).
  sd_event_source_set_time_accuracy(timer->get(), 1);
  timeout_ = *std::move(timer);
}

bool MetricsHttpServer::Answer(MHD_Connection* connection, absl::string_view url,
                               absl::string_view method) {
  if (method != MHD_HTTP_METHOD_GET && method != MHD_HTTP_METHOD_HEAD) {
    return Respond(mhd_, connection, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET\n",
                   kTextContentType, "GET, HEAD");
  }
  if (url != "/metrics") {
    return Respond(mhd_, connection, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n",
                   kTextContentType);
  }
  // HEAD renders too, so that its Content-Length is the real one; MHD leaves out the body.
  return Respond(mhd_, connection, MHD_HTTP_OK, render_(), kMetricsContentType);
}

void MetricsHttpServer::OnLibraryMessage(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  if (starting_) {
    absl::StrAppend(&start_messages_, start_messages_.empty() ? "" : "; ", message);
    return;
  }
  // Malformed requests, connection limit reached, and the like: the client's problem, not ours.
  log_("<5>metrics endpoint: " + message);
}

}  // namespace gatekeeper::daemon
