#include "daemon/event_loop.h"

#include <sys/signalfd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace gatekeeper::daemon {
namespace {

using common::ErrnoStatus;

// Callbacks live on the heap, owned by their source: sd-event frees them through the destroy
// callback, so a source removed from inside its own callback is safe.
template <typename F>
absl::StatusOr<EventSource> Own(int r, sd_event_source* s, F* cb, const char* what) {
  if (r < 0) {
    delete cb;
    return ErrnoStatus(-r, what);
  }
  sd_event_source_set_destroy_callback(s, [](void* p) { delete static_cast<F*>(p); });
  return EventSource(s);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  sd_event* e = nullptr;
  if (int r = sd_event_new(&e); r < 0) return ErrnoStatus(-r, "create the event loop");
  return std::unique_ptr<EventLoop>(new EventLoop(e));
}

EventLoop::~EventLoop() { sd_event_unref(event_); }

absl::StatusOr<EventSource> EventLoop::AddIo(int fd, uint32_t events,
                                             std::function<void(uint32_t)> cb) {
  using F = std::function<void(uint32_t)>;
  auto* f = new F(std::move(cb));
  sd_event_source* s = nullptr;
  const int r = sd_event_add_io(
      event_, &s, fd, events,
      [](sd_event_source*, int, uint32_t revents, void* p) {
        (*static_cast<F*>(p))(revents);
        return 0;
      },
      f);
  return Own(r, s, f, "watch an fd on the event loop");
}

absl::StatusOr<EventSource> EventLoop::AddTimer(absl::Duration after, std::function<void()> cb) {
  using F = std::function<void()>;
  auto* f = new F(std::move(cb));
  sd_event_source* s = nullptr;
  const int r = sd_event_add_time_relative(
      event_, &s, CLOCK_MONOTONIC, absl::ToInt64Microseconds(std::max(after, absl::ZeroDuration())),
      0,
      [](sd_event_source*, uint64_t, void* p) {
        (*static_cast<F*>(p))();
        return 0;
      },
      f);
  return Own(r, s, f, "add a timer");
}

absl::StatusOr<EventSource> EventLoop::AddChildPidfd(int pidfd, std::function<void()> cb) {
  // A plain io source on the pidfd: it becomes readable at exit, and leaves reaping to us.
  return AddIo(pidfd, EPOLLIN, [cb = std::move(cb)](uint32_t) { cb(); });
}

absl::StatusOr<EventSource> EventLoop::AddSignal(int signal, std::function<void()> cb) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return ErrnoStatus(errno, "block a signal");
  using F = std::function<void()>;
  auto* f = new F(std::move(cb));
  sd_event_source* s = nullptr;
  const int r = sd_event_add_signal(
      event_, &s, signal,
      [](sd_event_source*, const signalfd_siginfo*, void* p) {
        (*static_cast<F*>(p))();
        return 0;
      },
      f);
  return Own(r, s, f, "watch a signal");
}

absl::StatusOr<EventSource> EventLoop::AddPost(std::function<void()> cb) {
  using F = std::function<void()>;
  auto* f = new F(std::move(cb));
  sd_event_source* s = nullptr;
  const int r = sd_event_add_post(
      event_, &s,
      [](sd_event_source*, void* p) {
        (*static_cast<F*>(p))();
        return 0;
      },
      f);
  return Own(r, s, f, "add a post source");
}

absl::Status EventLoop::EnableWatchdog() {
  if (int r = sd_event_set_watchdog(event_, 1); r < 0) return ErrnoStatus(-r, "enable watchdog");
  return absl::OkStatus();
}

absl::Status EventLoop::Run() {
  if (int r = sd_event_loop(event_); r < 0) return ErrnoStatus(-r, "event loop");
  return absl::OkStatus();
}

void EventLoop::Exit(int code) { sd_event_exit(event_, code); }

}  // namespace gatekeeper::daemon
