// ExpandCommandLine() against the rules of systemd.service(5), "Command lines", as systemd 252
// applies them (replace_env_argv()).
#include "activation/command_line.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::activation {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Expand(const std::vector<std::string>& args,
                                const std::vector<std::string>& env) {
  std::vector<std::string> argv = {"/usr/bin/srv"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> expanded = ExpandCommandLine(argv, env);
  EXPECT_EQ(expanded.front(), "/usr/bin/srv");
  expanded.erase(expanded.begin());
  return expanded;
}

TEST(CommandLineTest, BracedVariableIsReplacedInsideItsWord) {
  const std::vector<std::string> env = {"PORT=8443", "TWO=two words", "EMPTY="};
  EXPECT_THAT(Expand({"--port=${PORT}", "${PORT}", "${PORT}${PORT}", "a${TWO}b", "${TWO}"}, env),
              ElementsAre("--port=8443", "8443", "84438443", "atwo wordsb", "two words"));
  // Empty or unset: the word stays, possibly empty, as one argument.
  EXPECT_THAT(Expand({"${EMPTY}", "x${UNSET}y", "${UNSET}"}, env), ElementsAre("", "xy", ""));
}

TEST(CommandLineTest, WholeWordVariableIsSplitIntoWords) {
  const std::vector<std::string> env = {"ARGS=-v  --color=auto\t-x", "ONE=one"};
  EXPECT_THAT(Expand({"$ARGS", "$ONE", "last"}, env),
              ElementsAre("-v", "--color=auto", "-x", "one", "last"));
}

TEST(CommandLineTest, SplittingHonoursQuotesAndBackslashes) {
  // systemd.service(5)'s example: Environment="TWO='two two' too", ExecStart=... $TWO ${TWO}.
  const std::vector<std::string> env = {"TWO='two two' too", "ESC=a\\ b \"c\\\"d\" ''",
                                        "OPEN=x 'y z"};
  EXPECT_THAT(Expand({"$TWO", "${TWO}"}, env), ElementsAre("two two", "too", "'two two' too"));
  EXPECT_THAT(Expand({"$ESC"}, env), ElementsAre("a b", "c\"d", ""));
  // An unclosed quote ends the last word instead of failing the start.
  EXPECT_THAT(Expand({"$OPEN"}, env), ElementsAre("x", "y z"));
}

TEST(CommandLineTest, UnsetOrEmptyWholeWordVariableIsRemoved) {
  const std::vector<std::string> env = {"EMPTY=", "BLANK=  \t "};
  EXPECT_THAT(Expand({"a", "$UNSET", "$EMPTY", "$BLANK", "b"}, env), ElementsAre("a", "b"));
}

TEST(CommandLineTest, DoubleDollarIsALiteralDollar) {
  const std::vector<std::string> env = {"HOME=/root"};
  EXPECT_THAT(Expand({"$$", "$$HOME", "$${HOME}", "cost=5$$", "$$$$", "a$$b${HOME}"}, env),
              ElementsAre("$", "$HOME", "${HOME}", "cost=5$", "$$", "a$b/root"));
}

TEST(CommandLineTest, DollarNotStartingAVariableIsKeptInsideAWord) {
  const std::vector<std::string> env = {"HOME=/root", "A=1"};
  // Inside a word only "${...}" and "$$" mean something: a bare $NAME there is not expanded.
  EXPECT_THAT(
      Expand({"a$HOME", "x$", "a$-b", "a$(id)", "${A:-b}", "${A", "pre${A:-b}${A}", "50$"}, env),
      ElementsAre("a$HOME", "x$", "a$-b", "a$(id)", "${A:-b}", "${A", "pre${A:-b}1", "50$"));
}

TEST(CommandLineTest, WholeWordDollarWithoutAVariableNameIsRemoved) {
  // systemd takes the whole rest of such a word as the name; no variable has it, so the word
  // expands to nothing. "$$" writes a literal "$" there.
  const std::vector<std::string> env = {"HOME=/root", "A=1"};
  EXPECT_THAT(Expand({"$", "$(id)", "$-x", "$HOME/x", "$A.b", "keep"}, env), ElementsAre("keep"));
  EXPECT_THAT(Expand({"$$(id)"}, env), ElementsAre("$(id)"));
}

TEST(CommandLineTest, ShellMetacharactersStayLiteral) {
  const std::vector<std::string> env = {"CMD=; rm -rf / | cat > x && `id` $(id) *"};
  EXPECT_THAT(Expand({";", "|", "&&", "`id`", ">out", "*", "a;b", "'q'", "\"d\"", "x$(id)"}, env),
              ElementsAre(";", "|", "&&", "`id`", ">out", "*", "a;b", "'q'", "\"d\"", "x$(id)"));
  // A value is data: its words are arguments, never commands, and "$" in it is not expanded.
  EXPECT_THAT(Expand({"${CMD}"}, env), ElementsAre("; rm -rf / | cat > x && `id` $(id) *"));
  EXPECT_THAT(Expand({"$CMD"}, env),
              ElementsAre(";", "rm", "-rf", "/", "|", "cat", ">", "x", "&&", "`id`", "$(id)", "*"));
}

TEST(CommandLineTest, LastAssignmentWinsAndNamesMatchExactly) {
  const std::vector<std::string> env = {"A=first", "AB=ab", "A=second"};
  EXPECT_THAT(Expand({"${A}", "$A", "${AB}", "${a}"}, env),
              ElementsAre("second", "second", "ab", ""));
}

TEST(CommandLineTest, ProgramPathIsExpandedLikeAnyWordAndNothingElseChanges) {
  EXPECT_THAT(ExpandCommandLine({"/opt/${V}/bin/srv", "plain"}, {"V=2"}),
              ElementsAre("/opt/2/bin/srv", "plain"));
  EXPECT_THAT(ExpandCommandLine({"/bin/true"}, {}), ElementsAre("/bin/true"));
}

}  // namespace
}  // namespace gatekeeper::activation
