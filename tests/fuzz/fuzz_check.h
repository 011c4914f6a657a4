// The fuzzers' invariant check: unlike assert(), it stays on in every build type, and it aborts
// so libFuzzer records the input as a crash.
#ifndef GATEKEEPER_TESTS_FUZZ_FUZZ_CHECK_H_
#define GATEKEEPER_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (false)

#endif  // GATEKEEPER_TESTS_FUZZ_FUZZ_CHECK_H_
