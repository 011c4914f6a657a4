#include "activation/output_forwarder.h"

#include <fcntl.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::activation {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class OutputForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = OutputForwarder::Create(
        "web", [this](absl::string_view line) { lines_.emplace_back(line); });
    ASSERT_TRUE(created.ok()) << created.status();
    forwarder_.emplace(std::move(created->first));
    write_end_ = std::move(created->second);
  }
  void Write(const std::string& text) {
    ASSERT_EQ(write(write_end_.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  bool Read() {
    auto more = forwarder_->OnReadable();
    EXPECT_TRUE(more.ok()) << more.status();
    return more.ok() && *more;
  }

  std::optional<OutputForwarder> forwarder_;
  common::UniqueFd write_end_;
  std::vector<std::string> lines_;
};

TEST_F(OutputForwarderTest, PrefixesEachLineWithTheGate) {
  Write("hello\nworld\r\n");
  EXPECT_TRUE(Read());
  EXPECT_THAT(lines_, ElementsAre("web: hello", "web: world"));
}

TEST_F(OutputForwarderTest, NothingToReadDoesNotBlock) {
  EXPECT_TRUE(Read());
  EXPECT_THAT(lines_, IsEmpty());
}

TEST_F(OutputForwarderTest, PartialLineWaitsForItsEnd) {
  Write("par");
  EXPECT_TRUE(Read());
  EXPECT_THAT(lines_, IsEmpty());
  Write("tial\n\n");
  EXPECT_TRUE(Read());
  EXPECT_THAT(lines_, ElementsAre("web: partial", "web: "));
}

TEST_F(OutputForwarderTest, EndOfFileFlushesTheLastLine) {
  Write("one\nunterminated");
  write_end_.reset();
  EXPECT_FALSE(Read());
  EXPECT_THAT(lines_, ElementsAre("web: one", "web: unterminated"));
}

TEST_F(OutputForwarderTest, LongLinesArePassedOnInPieces) {
  const std::string long_line(OutputForwarder::kMaxLine * 2 + 10, 'x');
  Write(long_line + "\n");
  EXPECT_TRUE(Read());
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(lines_[0], "web: " + std::string(OutputForwarder::kMaxLine, 'x'));
  EXPECT_EQ(lines_[1], "web: " + std::string(OutputForwarder::kMaxLine, 'x'));
  EXPECT_EQ(lines_[2], "web: " + std::string(10, 'x'));
}

TEST_F(OutputForwarderTest, LineOfExactlyMaxLengthIsOneLine) {
  Write(std::string(OutputForwarder::kMaxLine, 'y'));
  EXPECT_TRUE(Read());
  EXPECT_THAT(lines_, IsEmpty());
  Write("\nz\n");
  EXPECT_TRUE(Read());
  EXPECT_THAT(lines_, ElementsAre("web: " + std::string(OutputForwarder::kMaxLine, 'y'), "web: z"));
}

TEST_F(OutputForwarderTest, ReadsABoundedAmountPerCall) {
  // More than one call's worth: the rest comes with the next call, nothing is lost.
  const std::string line(99, 'a');
  std::string all;
  const size_t count = OutputForwarder::kMaxReadPerCall / 100 + 50;
  for (size_t i = 0; i < count; ++i) all += line + "\n";
  ASSERT_LT(all.size(), 1u << 20);
  ASSERT_EQ(fcntl(write_end_.get(), F_SETPIPE_SZ, 1 << 20), 1 << 20);
  Write(all);
  EXPECT_TRUE(Read());
  EXPECT_LT(lines_.size(), count);
  EXPECT_TRUE(Read());
  EXPECT_EQ(lines_.size(), count);
}

TEST(OutputForwarderPipeTest, WriteEndBlocksAndBothEndsAreCloseOnExec) {
  auto created = OutputForwarder::Create("g", [](absl::string_view) {});
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(fcntl(created->first.fd(), F_GETFL) & O_NONBLOCK);
  EXPECT_FALSE(fcntl(created->second.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(fcntl(created->first.fd(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(fcntl(created->second.get(), F_GETFD) & FD_CLOEXEC);
}

}  // namespace
}  // namespace gatekeeper::activation
