// The daemon's single event loop: sd-event with C++ callbacks. Every source is owned by an
// EventSource handle; dropping the handle removes the source.
#ifndef GATEKEEPER_DAEMON_EVENT_LOOP_H_
#define GATEKEEPER_DAEMON_EVENT_LOOP_H_

#include <signal.h>
#include <systemd/sd-event.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gatekeeper::daemon {

struct EventSourceDeleter {
  void operator()(sd_event_source* s) const { sd_event_source_disable_unref(s); }
};
using EventSource = std::unique_ptr<sd_event_source, EventSourceDeleter>;

class EventLoop {
 public:
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // `events` as for epoll (EPOLLIN, …); the callback gets the returned events.
  absl::StatusOr<EventSource> AddIo(int fd, uint32_t events, std::function<void(uint32_t)> cb);
  absl::StatusOr<EventSource> AddTimer(absl::Duration after, std::function<void()> cb);
  // Fires once when the process behind `pidfd` exits (the child is not reaped by sd-event).
  absl::StatusOr<EventSource> AddChildPidfd(int pidfd, std::function<void()> cb);
  // The signal is blocked for the whole process first (sd-event reads it from a signalfd).
  absl::StatusOr<EventSource> AddSignal(int signal, std::function<void()> cb);
  // Runs when the loop is about to sleep: batched work (status updates) goes here.
  absl::StatusOr<EventSource> AddPost(std::function<void()> cb);

  // Pings the service manager's watchdog when WATCHDOG_USEC asks for it (no-op otherwise).
  absl::Status EnableWatchdog();
  absl::Status Run();
  void Exit(int code);
  sd_event* get() const { return event_; }

 private:
  explicit EventLoop(sd_event* e) : event_(e) {}
  sd_event* event_;
};

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_EVENT_LOOP_H_
