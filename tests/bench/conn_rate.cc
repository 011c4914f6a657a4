// gk-conn-rate: connection-rate load generator for gk-bench-server. Keeps --concurrency
// connections in flight; each connects, sends 'x', expects 'X', closes (FIN) and is replaced.
// After --warmup seconds it counts completions and failures for --seconds, then prints one JSON
// line: {"seconds":3.001,"connections":91234,"rate":30401.2,"failed":0,"errors":{}}
// "errors" counts failures by errno name (ETIMEDOUT: not done within --timeout-ms), plus
// "EOF_BEFORE_REPLY" and "WRONG_REPLY".
//
// The client closes first, so every connection leaves a TIME_WAIT socket holding its ephemeral
// port for 60 s; at tens of thousands of connections per second the port range runs out and
// connect() fails with EADDRNOTAVAIL. The caller must, in the client's network namespace:
//   sysctl -w net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65535"
// The tool warns when tcp_tw_reuse is not 1 and reports EADDRNOTAVAIL failures by name, so a
// rate limited by ports is never mistaken for one limited by the filter.
// Exit 2: usage error, 1: runtime failure (setup only; failed connections are data, not errors).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "bench_cli.h"
#include "common/socket_address.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using gatekeeper::common::SocketAddress;
using gatekeeper::common::UniqueFd;

constexpr uint64_t kSignalTag = ~uint64_t{0};

[[noreturn]] void Usage(const std::string& message) {
  std::fprintf(stderr,
               "gk-conn-rate: %s\nusage: gk-conn-rate --target ADDR:PORT [--netns NAME] "
               "[--seconds S=10 (0: until SIGINT)] [--warmup S=0.5] [--concurrency C=16] "
               "[--timeout-ms T=1000]\n",
               message.c_str());
  std::exit(2);
}

[[noreturn]] void Fail(const std::string& what, int err) {
  std::fprintf(stderr, "gk-conn-rate: %s: %s\n", what.c_str(), std::strerror(err));
  std::exit(1);
}

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : absl::StrCat("errno ", err);
}

std::optional<SocketAddress> ParseHostPort(absl::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) return std::nullopt;
  absl::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != absl::string_view::npos) {
    return std::nullopt;
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port == 0 || port > 65535) {
    return std::nullopt;
  }
  auto address = SocketAddress::Parse(host, static_cast<uint16_t>(port));
  if (!address.ok()) return std::nullopt;
  return *address;
}

struct Options {
  std::string netns;
  std::optional<SocketAddress> target;
  double seconds = 10;
  double warmup = 0.5;
  int concurrency = 16;
  int timeout_ms = 1000;
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (absl::string_view(argv[i]) == "--help" || absl::string_view(argv[i]) == "-h") {
      Usage("connection-rate load generator");
    }
    absl::string_view arg;
    absl::string_view value;
    if (!gatekeeper::bench::TakeOption(argc, argv, i, arg, value)) {
      Usage(absl::StrCat(arg, " needs a value"));
    }
    const std::string bad = absl::StrCat(arg, " \"", value, "\": ");
    if (arg == "--netns") {
      if (value.empty() || value.find('/') != absl::string_view::npos || value[0] == '.') {
        Usage(bad + "expected a name in /run/netns");
      }
      o.netns = std::string(value);
    } else if (arg == "--target") {
      o.target = ParseHostPort(value);
      if (!o.target) Usage(bad + "expected IPV4:PORT or [IPV6]:PORT");
    } else if (arg == "--seconds" || arg == "--warmup") {
      double& seconds = arg == "--seconds" ? o.seconds : o.warmup;
      if (!absl::SimpleAtod(value, &seconds) || !std::isfinite(seconds) || seconds < 0) {
        Usage(bad + "expected a number of seconds >= 0");
      }
    } else if (arg == "--concurrency" || arg == "--timeout-ms") {
      int& number = arg == "--concurrency" ? o.concurrency : o.timeout_ms;
      if (!absl::SimpleAtoi(value, &number) || number < 1 || number > 1000000) {
        Usage(bad + "expected an integer in 1..1000000");
      }
    } else {
      Usage(absl::StrCat("unknown option \"", arg, "\""));
    }
  }
  if (!o.target) Usage("--target is required");
  return o;
}

void EnterNetns(const std::string& name) {
  const std::string path = "/run/netns/" + name;
  UniqueFd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) Fail(absl::StrCat("--netns ", name, ": open ", path), errno);
  if (setns(ns.get(), CLONE_NEWNET) != 0) Fail(absl::StrCat("--netns ", name, ": setns"), errno);
}

void WarnWithoutTimeWaitReuse() {
  // /proc/sys/net shows the namespace of the opener, so this reads the client namespace's value.
  std::ifstream in("/proc/sys/net/ipv4/tcp_tw_reuse");
  int reuse = -1;
  if (in >> reuse && reuse != 1) {
    std::fprintf(stderr,
                 "gk-conn-rate: warning: net.ipv4.tcp_tw_reuse=%d; TIME_WAIT will exhaust the "
                 "ephemeral ports (EADDRNOTAVAIL) at high rates\n",
                 reuse);
  }
}

enum class Phase : uint8_t { kIdle, kConnecting, kAwaitReply };

struct Slot {
  UniqueFd fd;
  Phase phase = Phase::kIdle;
  uint32_t generation = 0;  // tells a live timeout entry or event from one of an earlier socket
};

struct Deadline {
  Clock::time_point when;
  uint32_t slot;
  uint32_t generation;
};

class Generator {
 public:
  Generator(const Options& o, UniqueFd epoll)
      : o_(o), epoll_(std::move(epoll)), slots_(o.concurrency) {}

  void Run(int signal_fd) {
    window_start_ = now_ + ToDuration(o_.warmup);
    const std::optional<Clock::time_point> end =
        o_.seconds > 0 ? std::optional(window_start_ + ToDuration(o_.seconds)) : std::nullopt;
    for (uint32_t i = 0; i < slots_.size(); ++i) Start(i);
    std::vector<epoll_event> events(std::min<size_t>(slots_.size() + 1, 4096));
    for (;;) {
      now_ = Clock::now();
      if (end && now_ >= *end) break;
      auto wake = end;
      if (!deadlines_.empty() && (!wake || deadlines_.front().when < *wake)) {
        wake = deadlines_.front().when;
      }
      int wait_ms = -1;
      if (!idle_.empty()) {
        wait_ms = 0;
      } else if (wake) {
        // Rounded up so the loop does not spin through the last sub-millisecond.
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake - now_);
        wait_ms = std::max(0, static_cast<int>(left.count()));
      }
      const int n =
          epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), wait_ms);
      if (n < 0 && errno != EINTR) Fail("epoll_wait", errno);
      now_ = Clock::now();
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == kSignalTag) {
          signalfd_siginfo info;
          (void)!read(signal_fd, &info, sizeof(info));
          Report(now_);
          return;
        }
        const uint32_t slot = static_cast<uint32_t>(events[i].data.u64);
        if (slots_[slot].generation != static_cast<uint32_t>(events[i].data.u64 >> 32)) continue;
        Handle(slot, events[i].events);
      }
      while (!deadlines_.empty() && deadlines_.front().when <= now_) {
        const Deadline d = deadlines_.front();
        deadlines_.pop_front();
        if (slots_[d.slot].generation == d.generation && slots_[d.slot].phase != Phase::kIdle) {
          Finish(d.slot, "ETIMEDOUT");
        }
      }
      std::vector<uint32_t> retry;
      retry.swap(idle_);
      for (uint32_t slot : retry) Start(slot);
    }
    Report(Clock::now());
  }

 private:
  static Clock::duration ToDuration(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }

  void Start(uint32_t index) {
    Slot& s = slots_[index];
    s.fd = UniqueFd(socket(o_.target->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s.fd) return Finish(index, ErrnoName(errno));
    if (connect(s.fd.get(), o_.target->get(), o_.target->length) != 0 && errno != EINPROGRESS) {
      return Finish(index, ErrnoName(errno));  // EADDRNOTAVAIL lands here: no free port
    }
    // Edge-triggered: connect completion and the reply each arrive once and are consumed whole.
    epoll_event event{.events = EPOLLIN | EPOLLOUT | EPOLLET,
                      .data = {.u64 = (uint64_t{s.generation} << 32) | index}};
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, s.fd.get(), &event) != 0) {
      Fail("epoll_ctl ADD", errno);
    }
    s.phase = Phase::kConnecting;
    deadlines_.push_back({now_ + std::chrono::milliseconds(o_.timeout_ms), index, s.generation});
  }

  void Handle(uint32_t index, uint32_t events) {
    Slot& s = slots_[index];
    if (s.phase == Phase::kConnecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t size = sizeof(err);
      if (getsockopt(s.fd.get(), SOL_SOCKET, SO_ERROR, &err, &size) != 0) err = errno;
      if (err == 0 && !(events & EPOLLOUT)) err = ECONNRESET;
      if (err != 0) return Finish(index, ErrnoName(err));
      const char request = 'x';
      if (send(s.fd.get(), &request, 1, MSG_NOSIGNAL) != 1) {
        return Finish(index, ErrnoName(errno));
      }
      s.phase = Phase::kAwaitReply;
      if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    }
    char reply = 0;
    const ssize_t n = recv(s.fd.get(), &reply, 1, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) return Finish(index, ErrnoName(errno));
    if (n == 0) return Finish(index, "EOF_BEFORE_REPLY");
    Finish(index, reply == 'X' ? "" : "WRONG_REPLY");
  }

  // Ends the slot's connection (with an empty `error`: a completed one) and queues a new one.
  void Finish(uint32_t index, const std::string& error) {
    Slot& s = slots_[index];
    s.fd.reset();  // plain close: FIN, the reply was read so nothing unread forces a RST
    s.phase = Phase::kIdle;
    ++s.generation;
    if (now_ >= window_start_) {
      if (error.empty()) {
        ++completed_;
      } else {
        ++failed_;
        ++errors_[error];
      }
    }
    if (error.empty()) {
      Start(index);
    } else {
      // Not at once: a failing connect() would recurse and starve the event loop.
      idle_.push_back(index);
    }
  }

  void Report(Clock::time_point stop) {
    const double seconds =
        std::max(0.0, std::chrono::duration<double>(stop - window_start_).count());
    nlohmann::ordered_json out;  // keys in the documented order
    out["seconds"] = std::round(seconds * 1000) / 1000;
    out["connections"] = completed_;
    out["rate"] = seconds > 0 ? std::round(completed_ / seconds * 10) / 10 : 0.0;
    out["failed"] = failed_;
    out["errors"] = nlohmann::ordered_json::object();
    for (const auto& [name, count] : errors_) out["errors"][name] = count;
    std::printf("%s\n", out.dump().c_str());
    if (auto it = errors_.find("EADDRNOTAVAIL"); it != errors_.end()) {
      std::fprintf(stderr,
                   "gk-conn-rate: %lu connects found no free ephemeral port (EADDRNOTAVAIL): set "
                   "net.ipv4.tcp_tw_reuse=1 and a wide net.ipv4.ip_local_port_range\n",
                   static_cast<unsigned long>(it->second));
    }
  }

  const Options& o_;
  UniqueFd epoll_;
  std::vector<Slot> slots_;
  std::deque<Deadline> deadlines_;  // in start order, which is deadline order: one timeout for all
  std::vector<uint32_t> idle_;
  Clock::time_point now_ = Clock::now();
  Clock::time_point window_start_;
  uint64_t completed_ = 0;
  uint64_t failed_ = 0;
  std::map<std::string, uint64_t> errors_;
};

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  if (!options.netns.empty()) EnterNetns(options.netns);

  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) Fail("getrlimit(RLIMIT_NOFILE)", errno);
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) Fail("setrlimit(RLIMIT_NOFILE)", errno);
  WarnWithoutTimeWaitReuse();

  UniqueFd signals = gatekeeper::bench::StopSignals();
  if (!signals) Fail("signalfd", errno);
  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) Fail("epoll_create1", errno);
  epoll_event event{.events = EPOLLIN, .data = {.u64 = kSignalTag}};
  if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, signals.get(), &event) != 0) {
    Fail("epoll_ctl ADD signalfd", errno);
  }

  Generator generator(options, std::move(epoll));
  generator.Run(signals.get());
  return 0;
}
