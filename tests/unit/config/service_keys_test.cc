// [Service] keys: good values, bad values, defaults and resets.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/config/test_util.h"

namespace gatekeeper::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kSocket = "[Socket]\nListenStream=80\n[Service]\n";

// Errors are on line 4 and later: lines 1-3 are kSocket.
std::string ServiceError(std::string_view lines) {
  return OnlyError(std::string(kSocket) + "ExecStart=/bin/true\n" + std::string(lines));
}

TEST(ServiceKeysTest, Defaults) {
  ServiceConfig s = ServiceGate("ExecStart=/usr/bin/srv\n");
  EXPECT_THAT(s.exec_start, ElementsAre("/usr/bin/srv"));
  EXPECT_EQ(s.exec_start_where, (Location{"web.gate", 4}));
  EXPECT_FALSE(s.user.has_value());
  EXPECT_FALSE(s.group.has_value());
  EXPECT_THAT(s.environment, IsEmpty());
  EXPECT_EQ(s.working_directory, "");
  EXPECT_EQ(s.restart, Restart::kNo);
  EXPECT_EQ(s.restart_sec, absl::Milliseconds(100));
  EXPECT_EQ(s.start, Start::kOnConnection);
  EXPECT_TRUE(s.lists.allow.empty());
}

TEST(ServiceKeysTest, ExecStartIsSplitLikeSystemd) {
  ServiceConfig s =
      ServiceGate(R"(ExecStart=/usr/bin/srv --name=%n "two words" 'single "q"' a\tb \; 100%% $HOME)"
                  "\n");
  EXPECT_THAT(s.exec_start, ElementsAre("/usr/bin/srv", "--name=web", "two words", "single \"q\"",
                                        "a\tb", ";", "100%", "$HOME"));
}

TEST(ServiceKeysTest, ExecStartKeepsVariablesForTheStart) {
  // $NAME, ${NAME} and $$ are expanded when the service starts (against its environment then),
  // not here.
  ServiceConfig s =
      ServiceGate("Environment=PORT=1\nExecStart=/usr/bin/srv ${PORT} $ARGS $$ \"$QUOTED\" a$B\n");
  EXPECT_THAT(s.exec_start,
              ElementsAre("/usr/bin/srv", "${PORT}", "$ARGS", "$$", "$QUOTED", "a$B"));
}

TEST(ServiceKeysTest, ExecStartWarnsAboutWordsThatExpandToNothing) {
  LoadResult result = ParseWeb(std::string(kSocket) +
                               "ExecStart=/usr/bin/srv $(id) $ $HOME/x $HOME ${X} $$(id) a$(id)\n");
  EXPECT_THAT(Errors(result), IsEmpty());
  const std::vector<std::string> warnings = Warnings(result);
  ASSERT_EQ(warnings.size(), 3u) << ::testing::PrintToString(warnings);
  EXPECT_EQ(warnings[0],
            "web.gate:4: ExecStart=: the argument \"$(id)\" will be left out: a whole word "
            "starting with \"$\" is a variable split into words, and \"(id)\" is no variable "
            "name (write \"$$\" for a literal \"$\", or \"${NAME}\" inside a word)");
  EXPECT_THAT(warnings[1], HasSubstr("the argument \"$\" will be left out"));
  EXPECT_THAT(warnings[2], HasSubstr("the argument \"$HOME/x\" will be left out"));
}

TEST(ServiceKeysTest, ExecStartContinuedOverLines) {
  ServiceConfig s = ServiceGate("ExecStart=/usr/sbin/lighttpd \\\n  -D \\\n  -f /etc/l.conf\n");
  EXPECT_THAT(s.exec_start, ElementsAre("/usr/sbin/lighttpd", "-D", "-f", "/etc/l.conf"));
  EXPECT_EQ(s.exec_start_where.line, 4);
}

TEST(ServiceKeysTest, ExecStartErrors) {
  auto error = [](std::string_view line) {
    return OnlyError(std::string(kSocket) + std::string(line) + "\n");
  };
  EXPECT_EQ(error("ExecStart=-/usr/bin/srv"),
            "web.gate:4: ExecStart=: the prefix \"-\" is not supported yet; start the command "
            "line with the program's absolute path");
  EXPECT_THAT(error("ExecStart=@/usr/bin/srv srv"), HasSubstr("the prefix \"@\""));
  EXPECT_THAT(error("ExecStart=+/usr/bin/srv"), HasSubstr("the prefix \"+\""));
  EXPECT_THAT(error("ExecStart=!!/usr/bin/srv"), HasSubstr("the prefix \"!!\""));
  EXPECT_THAT(error("ExecStart=srv --flag"),
              HasSubstr("ExecStart=: the program must be given by its absolute path"));
  EXPECT_THAT(error("ExecStart=/usr/bin/"), HasSubstr("names a directory"));
  EXPECT_THAT(error("ExecStart=\"\" x"), HasSubstr("empty executable path"));
  EXPECT_THAT(error("ExecStart=/bin/a \"unclosed"), HasSubstr("ExecStart=: unbalanced quotes"));
  EXPECT_THAT(error("ExecStart=/bin/a \\q"), HasSubstr("invalid escape sequence"));
  EXPECT_THAT(error("ExecStart=/bin/a ; /bin/b"), HasSubstr("a gate runs one command"));
  EXPECT_THAT(error("ExecStart=; /bin/b"), HasSubstr("a gate runs one command"));
  EXPECT_THAT(error("ExecStart=/bin/%i"), HasSubstr("ExecStart=: unknown specifier \"%i\""));
}

TEST(ServiceKeysTest, OneCommandLineUnlessReset) {
  EXPECT_EQ(OnlyError(std::string(kSocket) + "ExecStart=/bin/a\nExecStart=/bin/b\n"),
            "web.gate:5: ExecStart=: already set at web.gate:4; a gate runs one command line (to "
            "replace it, e.g. in a drop-in, first reset it with an empty ExecStart=)");
  EXPECT_THAT(ServiceGate("ExecStart=/bin/a\nExecStart=\nExecStart=/bin/b x\n").exec_start,
              ElementsAre("/bin/b", "x"));
}

TEST(ServiceKeysTest, UserAndGroup) {
  ServiceConfig s = ServiceGate("ExecStart=/bin/x\nUser=www-data\nGroup=adm\n");
  EXPECT_EQ(s.user->name, "www-data");
  EXPECT_EQ(s.user->uid, 33u);
  EXPECT_EQ(s.group->name, "adm");
  EXPECT_EQ(s.group->gid, 4u);
  s = ServiceGate("ExecStart=/bin/x\nUser=1000\nGroup=1000\n");
  EXPECT_EQ(s.user->uid, 1000u);
  EXPECT_EQ(s.group->gid, 1000u);
  EXPECT_FALSE(ServiceGate("ExecStart=/bin/x\nUser=root\nUser=\n").user.has_value());

  EXPECT_EQ(ServiceError("User=nosuch\n"), "web.gate:5: User=: no such user \"nosuch\"");
  EXPECT_EQ(ServiceError("Group=nosuch\n"), "web.gate:5: Group=: no such group \"nosuch\"");
  EXPECT_THAT(ServiceError("User=4294967295\n"), HasSubstr("is not a valid uid"));
  EXPECT_THAT(ServiceError("Group=65535\n"), HasSubstr("is not a valid gid"));
  EXPECT_THAT(ServiceError("User=a:b\n"), HasSubstr("is not a valid user or group name"));
}

TEST(ServiceKeysTest, UserNamesComeFromTheResolverNotTheMachine) {
  FakeResolver resolver;
  LoadResult result = ParseGate(
      "web",
      SourceText{"web.gate", "[Socket]\nListenStream=80\n[Service]\nExecStart=/bin/x\nUser=%n\n"},
      {}, resolver);
  EXPECT_THAT(resolver.asked, ElementsAre("web"));
  EXPECT_THAT(Errors(result), ElementsAre("web.gate:5: User=: no such user \"web\""));
}

TEST(ServiceKeysTest, Environment) {
  ServiceConfig s = ServiceGate(
      "ExecStart=/bin/x\nEnvironment=A=1 \"B=two words\" C=\nEnvironment='D=x\\ty' A=replaced\n"
      "Environment=NAME=%n\n");
  EXPECT_THAT(s.environment, ElementsAre("A=replaced", "B=two words", "C=", "D=x\ty", "NAME=web"));
  EXPECT_THAT(
      ServiceGate("ExecStart=/bin/x\nEnvironment=A=1\nEnvironment=\nEnvironment=B=2\n").environment,
      ElementsAre("B=2"));
  EXPECT_THAT(ServiceError("Environment=NOEQUALS\n"),
              HasSubstr("web.gate:5: Environment=: \"NOEQUALS\" is not an assignment VAR=VALUE"));
  EXPECT_THAT(ServiceError("Environment=1A=x\n"), HasSubstr("is not an assignment"));
  EXPECT_THAT(ServiceError("Environment==x\n"), HasSubstr("is not an assignment"));
  EXPECT_THAT(ServiceError("Environment=\"A=1\n"), HasSubstr("unbalanced quotes"));
  EXPECT_THAT(ServiceError("Environment=A=\\xff\n"), HasSubstr("not valid UTF-8"));
  // A bad word keeps the whole line out.
  LoadResult result =
      ParseWeb(std::string(kSocket) + "ExecStart=/bin/x\nEnvironment=A=1\nEnvironment=B=2 -x\n");
  ASSERT_FALSE(result.config.gates.empty());
  ASSERT_TRUE(result.config.gates[0].service.has_value());
  EXPECT_THAT(result.config.gates[0].service->environment, ElementsAre("A=1"));
}

TEST(ServiceKeysTest, WorkingDirectory) {
  EXPECT_EQ(ServiceGate("ExecStart=/bin/x\nWorkingDirectory=/srv/%n\n").working_directory,
            "/srv/web");
  EXPECT_EQ(
      ServiceGate("ExecStart=/bin/x\nWorkingDirectory=/srv\nWorkingDirectory=\n").working_directory,
      "");
  EXPECT_THAT(ServiceError("WorkingDirectory=~\n"),
              HasSubstr("WorkingDirectory=: \"~\" is not an absolute path"));
}

TEST(ServiceKeysTest, RestartAndRestartSec) {
  EXPECT_EQ(ServiceGate("ExecStart=/bin/x\nRestart=on-failure\n").restart, Restart::kOnFailure);
  EXPECT_EQ(ServiceGate("ExecStart=/bin/x\nRestart=always\n").restart, Restart::kAlways);
  EXPECT_EQ(ServiceGate("ExecStart=/bin/x\nRestart=always\nRestart=\n").restart, Restart::kNo);
  EXPECT_THAT(ServiceError("Restart=on-abnormal\n"),
              HasSubstr("\"on-abnormal\" is not supported yet; use no, on-failure or always"));
  EXPECT_THAT(ServiceError("Restart=sometimes\n"), HasSubstr("is not one of no, on-failure"));

  EXPECT_EQ(ServiceGate("ExecStart=/bin/x\nRestartSec=1min 30s\n").restart_sec, absl::Seconds(90));
  EXPECT_EQ(ServiceGate("ExecStart=/bin/x\nRestartSec=5\n").restart_sec, absl::Seconds(5));
  EXPECT_EQ(ServiceGate("ExecStart=/bin/x\nRestartSec=5\nRestartSec=\n").restart_sec,
            absl::Milliseconds(100));
  EXPECT_THAT(ServiceError("RestartSec=soon\n"),
              HasSubstr("web.gate:5: RestartSec=: \"soon\" is not a time span"));
  EXPECT_THAT(ServiceError("RestartSec=infinity\n"), HasSubstr("not allowed"));
}

TEST(ServiceKeysTest, Start) {
  EXPECT_EQ(ServiceGate("ExecStart=/bin/x\nStart=immediately\n").start, Start::kImmediately);
  EXPECT_EQ(ServiceGate("ExecStart=/bin/x\nStart=on-connection\n").start, Start::kOnConnection);
  EXPECT_THAT(ServiceError("Start=later\n"),
              HasSubstr("Start=: \"later\" is not one of on-connection, immediately"));
  EXPECT_EQ(OnlyError("[Socket]\nListenStream=22\nAccept=yes\n[Service]\nExecStart=/bin/x\n"
                      "Start=immediately\n"),
            "web.gate:6: Start=immediately cannot be used with Accept=yes (web.gate:3): a process "
            "is started for each connection");
}

TEST(ServiceKeysTest, ServiceScopeLists) {
  ServiceConfig s =
      ServiceGate("ExecStart=/bin/x\nIPAddressDeny=any\nIPAddressAllow=localhost 192.0.2.1\n");
  EXPECT_EQ(s.lists.deny.entries().size(), 2u);
  EXPECT_EQ(s.lists.allow.entries().size(), 3u);
  EXPECT_EQ(s.lists.allow.entries()[2].origin.line, 6);
  EXPECT_THAT(ServiceError("IPAddressAllow=192.0.2.0/33\n"),
              HasSubstr("web.gate:5: IPAddressAllow=: invalid address prefix \"192.0.2.0/33\""));
}

TEST(ServiceKeysTest, ServiceKeysWithoutExecStart) {
  EXPECT_EQ(OnlyError("[Socket]\nListenStream=80\n[Service]\nUser=root\nRestart=always\n"),
            "web.gate:3: [Service] has no ExecStart= but sets Restart= (web.gate:5); without "
            "ExecStart= the gate runs no service");
  // Reset values and an empty section are fine: the gate just has no service.
  LoadResult result = ParseWeb("[Socket]\nListenStream=80\n[Service]\nUser=\nExecStart=\n");
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(Errors(result));
  EXPECT_FALSE(result.config.gates[0].service.has_value());
}

TEST(ServiceKeysTest, UnknownServiceKeys) {
  EXPECT_EQ(ServiceError("Type=notify\n"), "web.gate:5: unknown key \"Type=\" in [Service]");
  EXPECT_EQ(ServiceError("ListenStream=81\n"),
            "web.gate:5: unknown key \"ListenStream=\" in [Service]: it belongs in [Socket]");
}

TEST(ServiceKeysTest, StandardInputSocketNeedsAcceptYes) {
  EXPECT_EQ(ServiceGate("ExecStart=/bin/true\n").standard_input, StandardInput::kNull);
  EXPECT_THAT(ServiceError("StandardInput=socket\n"),
              HasSubstr("web.gate:5: StandardInput=socket needs Accept=yes"));
  EXPECT_THAT(
      ServiceError("StandardInput=tty\n"),
      HasSubstr("web.gate:5: StandardInput=: \"tty\" is not supported; use null or socket"));
}

}  // namespace
}  // namespace gatekeeper::config
