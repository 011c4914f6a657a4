// gk-link-bench's client: a fresh non-blocking connect to the gate every millisecond until one is
// answered. An attempt is abandoned after 1 ms: a SYN arriving while the gate is away is dropped
// by its filter, and TCP would only retransmit after a second. The caller drives it from its own
// wait loop (Step(), Fill(), OnReady()), so that the daemon keeps being served meanwhile.
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_CLIENT_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_CLIENT_H_

#include <poll.h>

#include <cstdint>
#include <string>

#include "common/unique_fd.h"

namespace gatekeeper::bench {

class Prober {
 public:
  struct Counts {
    int attempts = 0;
    int abandoned = 0;  // no handshake within 1 ms (the SYN was dropped)
    int refused = 0;    // reset or failed at once
    int lost = 0;       // connected, then closed without an answer
  };

  // Starts or abandons attempts as time says; call before each wait.
  void Step(int64_t now);
  // When Step() has something to do next.
  int64_t WakeAt() const;
  // The fd to wait for, if any.
  bool Fill(pollfd& p) const;
  // What the wait found on the fd of Fill().
  void OnReady(short revents);

  bool done() const { return state_ == State::kDone; }
  int64_t answered_ns() const { return answered_ns_; }
  int answer_pid() const { return answer_pid_; }
  const Counts& counts() const { return counts_; }

 private:
  enum class State { kIdle, kConnecting, kExchanging, kDone };

  void SendRequest();

  State state_ = State::kIdle;
  common::UniqueFd fd_;
  int64_t attempt_start_ = 0;
  int64_t next_attempt_ = 0;
  std::string reply_;
  int64_t answered_ns_ = 0;
  int answer_pid_ = 0;
  Counts counts_;
};

// Adds `c` to `total`.
void AddCounts(Prober::Counts& total, const Prober::Counts& c);

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_CLIENT_H_
