// RaiseFileLimit() on this test process's own limit; the limit is put back afterwards. Lowering
// and raising a soft limit up to the hard one needs no privilege.
#include "daemon/file_limit.h"

#include <sys/resource.h>

#include <algorithm>

#include "gtest/gtest.h"

namespace gatekeeper::daemon {
namespace {

class FileLimitTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved_), 0); }
  void TearDown() override { EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &saved_), 0); }
  rlimit saved_{};
};

TEST_F(FileLimitTest, RaisesTheSoftLimitToTheHardOneAndReturnsTheOldSoftLimit) {
  if (saved_.rlim_max < 2) GTEST_SKIP() << "hard limit " << saved_.rlim_max;
  const rlim_t low = std::min<rlim_t>(saved_.rlim_max - 1, 256);
  const rlimit lowered{low, saved_.rlim_max};
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);

  absl::StatusOr<rlim_t> original = RaiseFileLimit();
  ASSERT_TRUE(original.ok()) << original.status();
  EXPECT_EQ(*original, low);
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, saved_.rlim_max);
  EXPECT_EQ(now.rlim_max, saved_.rlim_max);
}

TEST_F(FileLimitTest, NothingToRaiseIsNoError) {
  const rlimit at_hard{saved_.rlim_max, saved_.rlim_max};
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &at_hard), 0);
  absl::StatusOr<rlim_t> original = RaiseFileLimit();
  ASSERT_TRUE(original.ok()) << original.status();
  EXPECT_EQ(*original, saved_.rlim_max);
}

}  // namespace
}  // namespace gatekeeper::daemon
