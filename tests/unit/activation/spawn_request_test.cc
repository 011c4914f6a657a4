// The checks Spawn() makes before it forks; no process is started here.
#include <fcntl.h>
#include <unistd.h>

#include "activation/spawn.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::activation {
namespace {

using ::testing::HasSubstr;

TEST(SpawnRequestTest, ProgramMustBeAnAbsolutePath) {
  SpawnRequest r;
  r.argv = {"true"};
  const absl::Status s = Spawn(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("absolute path, got \"true\""));
  r.argv = {};
  EXPECT_EQ(Spawn(r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpawnRequestTest, PassedFdsMustBeOpen) {
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  close(fd);
  SpawnRequest r;
  r.argv = {"/bin/true"};
  r.fds = {{fd, "gone"}};
  const absl::Status s = Spawn(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("(gone) to pass is not open"));
}

TEST(SpawnRequestTest, FdNamesAreValidated) {
  SpawnRequest r;
  r.argv = {"/bin/true"};
  r.fds = {{STDIN_FILENO, "a:b"}};
  EXPECT_EQ(Spawn(r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpawnRequestTest, HomeDirectoryNeedsAUser) {
  SpawnRequest r;
  r.argv = {"/bin/true"};
  r.working_directory = "~";
  EXPECT_EQ(Spawn(r).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gatekeeper::activation
