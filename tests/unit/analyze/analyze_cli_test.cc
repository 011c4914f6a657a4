// The built `gatekeeper analyze` binary, for what scripts rely on: its exit status (0 clean,
// 1 findings, 2 usage or I/O errors) and JSON that parses.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/unit/analyze/test_root.h"

namespace gatekeeper::analyze {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

struct Result {
  int status = -1;  // the exit status; -1 when it did not run or exit
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `gatekeeper analyze ARGS...`, stdout and stderr captured apart (the JSON is on stdout).
Result Analyze(const std::vector<std::string>& args) {
  TestRoot scratch;  // only for the two output files
  const std::string out_path = scratch.dir() + "/out";
  const std::string err_path = scratch.dir() + "/err";
  std::vector<std::string> argv = {GK_GATEKEEPER_BINARY, "analyze"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, c_argv[0], &actions, nullptr, c_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  Result r;
  if (err != 0) {
    r.err = std::string("posix_spawn: ") + strerror(err);
    return r;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

std::string Fixture(const std::string& name) { return TestRoot::FixtureDir(name); }

TEST(AnalyzeCliTest, CleanRootExitsZero) {
  const Result r = Analyze({"--root", Fixture("wireguard-fixed")});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, StartsWith("no ordering cycles or device stalls"));
  EXPECT_THAT(r.err, IsEmpty());
}

TEST(AnalyzeCliTest, StallExitsOneAndItsJsonParses) {
  const Result text = Analyze({"--root", Fixture("wireguard-stall")});
  EXPECT_EQ(text.status, 1) << text.out << text.err;
  EXPECT_THAT(text.out, StartsWith("stall 1: foo.socket waits for "));

  const Result json = Analyze({"--json", "--root=" + Fixture("wireguard-stall")});
  EXPECT_EQ(json.status, 1) << json.out << json.err;
  const nlohmann::json j = nlohmann::json::parse(json.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << json.out;
  ASSERT_EQ(j["findings"].size(), 1u);
  EXPECT_EQ(j["findings"][0]["kind"], "stall");
  EXPECT_EQ(j["findings"][0]["creator"], "wg-quick@wg0.service");
  EXPECT_EQ(j["cut_short_sets"], 0);
}

TEST(AnalyzeCliTest, CycleExitsOne) {
  const Result r = Analyze({"--root", Fixture("iptables-cycle")});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_THAT(r.out, StartsWith("cycle 1: ordering cycle of 5 units through foo.socket"));
}

TEST(AnalyzeCliTest, MissingRootExitsTwo) {
  const Result r = Analyze({"--root", "/nonexistent-gk-analyze-root"});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--root /nonexistent-gk-analyze-root"));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST(AnalyzeCliTest, UsageErrorsExitTwo) {
  const Result unknown = Analyze({"--root", Fixture("wireguard-fixed"), "--no-such-option"});
  EXPECT_EQ(unknown.status, 2) << unknown.out << unknown.err;
  EXPECT_THAT(unknown.err, HasSubstr("unknown option --no-such-option"));
  const Result no_value = Analyze({"--root"});
  EXPECT_EQ(no_value.status, 2) << no_value.out << no_value.err;
  const Result bad_flag =
      Analyze({"--root", Fixture("wireguard-fixed"), "--device-created-by", "wg0"});
  EXPECT_EQ(bad_flag.status, 2) << bad_flag.out << bad_flag.err;
  const Result bad_unit = Analyze({"--root", Fixture("wireguard-fixed"), "no-such.service"});
  EXPECT_EQ(bad_unit.status, 2) << bad_unit.out << bad_unit.err;
}

}  // namespace
}  // namespace gatekeeper::analyze
