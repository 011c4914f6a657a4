// The one clock gk-link-bench measures and waits with: CLOCK_MONOTONIC, in nanoseconds.
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_CLOCK_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace gatekeeper::bench {

inline constexpr int64_t kMs = 1'000'000;
inline constexpr int64_t kSecond = 1'000'000'000;

inline int64_t NowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * kSecond + ts.tv_nsec;
}

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_CLOCK_H_
