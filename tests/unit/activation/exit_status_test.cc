#include "activation/exit_status.h"

#include <signal.h>
#include <sys/wait.h>

#include "gtest/gtest.h"

namespace gatekeeper::activation {
namespace {

TEST(ExitStatusTest, FromSiginfo) {
  EXPECT_EQ(ExitStatus::FromSiginfo(CLD_EXITED, 3), ExitStatus::Exited(3));
  EXPECT_EQ(ExitStatus::FromSiginfo(CLD_KILLED, SIGKILL), ExitStatus::Killed(SIGKILL));
  EXPECT_EQ(ExitStatus::FromSiginfo(CLD_DUMPED, SIGSEGV).kind, ExitStatus::Kind::kDumped);
}

TEST(ExitStatusTest, Text) {
  EXPECT_EQ(ExitStatus::Exited(1).ToString(), "exited with status 1");
  EXPECT_EQ(ExitStatus::Killed(SIGKILL).ToString(), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(ExitStatus::FromSiginfo(CLD_DUMPED, SIGSEGV).ToString(),
            "dumped core on signal 11 (SIGSEGV)");
}

TEST(ExitStatusTest, CleanAndSuccess) {
  EXPECT_TRUE(ExitStatus::Exited(0).Clean());
  EXPECT_TRUE(ExitStatus::Exited(0).Success());
  EXPECT_TRUE(ExitStatus::Killed(SIGTERM).Clean());
  EXPECT_FALSE(ExitStatus::Killed(SIGTERM).Success());
  EXPECT_FALSE(ExitStatus::Exited(2).Clean());
  EXPECT_FALSE(ExitStatus::Killed(SIGKILL).Clean());
  EXPECT_FALSE(ExitStatus::FromSiginfo(CLD_DUMPED, SIGABRT).Clean());
}

}  // namespace
}  // namespace gatekeeper::activation
