// Runs independent calls from several threads at once, for work that mostly waits on the kernel
// (every map-in-map write ends with an RCU grace period): the waits overlap instead of adding up.
#ifndef GATEKEEPER_COMMON_RUN_AT_ONCE_H_
#define GATEKEEPER_COMMON_RUN_AT_ONCE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <system_error>
#include <thread>
#include <vector>

namespace gatekeeper::common {

// Enough threads that the waits of many scopes overlap; each mostly sleeps.
inline constexpr size_t kWaitingThreads = 16;

// Calls fn(i) for every i in [0, n), from up to `max_threads` threads (the caller's included),
// and returns once every call has returned. When a thread cannot be created, the calls run on
// the threads there are: slower, nothing lost.
template <typename Fn>
void RunAtOnce(size_t n, size_t max_threads, Fn fn) {
  std::atomic<size_t> next = 0;
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::jthread> threads;
  for (size_t t = 1; t < std::min(n, max_threads); ++t) {
    try {
      threads.emplace_back(work);
    } catch (const std::system_error&) {
      break;
    }
  }
  work();
}  // the jthreads join here

}  // namespace gatekeeper::common

#endif  // GATEKEEPER_COMMON_RUN_AT_ONCE_H_
