#include "tests/bench/link_bench_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>

#include "absl/strings/numbers.h"
#include "tests/bench/link_bench_clock.h"
#include "tests/bench/link_bench_topology.h"

namespace gatekeeper::bench {
namespace {

constexpr int64_t kAttemptTimeout = 1 * kMs;

}  // namespace

void Prober::Step(int64_t now) {
  if (state_ == State::kConnecting && now >= attempt_start_ + kAttemptTimeout) {
    fd_.reset();
    ++counts_.abandoned;
    state_ = State::kIdle;
    next_attempt_ = attempt_start_ + kAttemptTimeout;
  }
  if (state_ != State::kIdle || now < next_attempt_) return;
  ++counts_.attempts;
  attempt_start_ = now;
  next_attempt_ = now + kAttemptTimeout;
  fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in to{.sin_family = AF_INET, .sin_port = htons(kPort)};
  ::inet_pton(AF_INET, kServerAddress, &to.sin_addr);
  if (fd_ && ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) {
    SendRequest();
  } else if (fd_ && errno == EINPROGRESS) {
    state_ = State::kConnecting;
  } else {
    // Failed at once (no route, say): the next try comes when this one's millisecond is up.
    ++counts_.refused;
    fd_.reset();
  }
}

int64_t Prober::WakeAt() const {
  switch (state_) {
    case State::kIdle:
      return next_attempt_;
    case State::kConnecting:
      return attempt_start_ + kAttemptTimeout;
    default:
      return INT64_MAX;
  }
}

bool Prober::Fill(pollfd& p) const {
  if (state_ != State::kConnecting && state_ != State::kExchanging) return false;
  p = {fd_.get(), static_cast<short>(state_ == State::kConnecting ? POLLOUT : POLLIN), 0};
  return true;
}

void Prober::OnReady(short revents) {
  if (revents == 0) return;
  if (state_ == State::kConnecting) {
    int error = 0;
    socklen_t len = sizeof(error);
    ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &len);
    if (error == 0) {
      SendRequest();
    } else {
      ++counts_.refused;
      fd_.reset();
      state_ = State::kIdle;
    }
    return;
  }
  if (state_ != State::kExchanging) return;
  char buf[256];
  const ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
  const int64_t now = NowNs();
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    ++counts_.lost;
    fd_.reset();
    state_ = State::kIdle;
    return;
  }
  reply_.append(buf, n);
  if (const size_t nl = reply_.find('\n'); nl != std::string::npos) {
    answered_ns_ = now;
    // gk-test-service answers "<fdname> <pid>".
    const std::string line = reply_.substr(0, nl);
    (void)absl::SimpleAtoi(line.substr(line.rfind(' ') + 1), &answer_pid_);
    fd_.reset();
    state_ = State::kDone;
  }
}

void Prober::SendRequest() {
  if (::send(fd_.get(), "hi\n", 3, MSG_NOSIGNAL) != 3) {
    ++counts_.lost;
    fd_.reset();
    state_ = State::kIdle;
    return;
  }
  reply_.clear();
  state_ = State::kExchanging;
}

void AddCounts(Prober::Counts& total, const Prober::Counts& c) {
  total.attempts += c.attempts;
  total.abandoned += c.abandoned;
  total.refused += c.refused;
  total.lost += c.lost;
}

}  // namespace gatekeeper::bench
