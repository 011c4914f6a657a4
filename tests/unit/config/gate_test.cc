// Whole gates: drop-ins, checks across keys, many errors at once, hostile input.
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
using ::testing::SizeIs;

TEST(GateFileTest, NothingToListenOnIsReportedAtTheSocketHeader) {
  EXPECT_EQ(OnlyError("# web\n\n[Socket]\nBindToDevice=wg0\n"),
            "web.gate:3: the gate has nothing to listen on: add ListenStream= or ListenDatagram= "
            "to [Socket]");
  EXPECT_THAT(OnlyError("[Service]\nExecStart=/bin/x\n"), HasSubstr("web.gate:1: the gate has "
                                                                    "nothing to listen on"));
  EXPECT_THAT(OnlyError(""), HasSubstr("web.gate:1: the gate has nothing to listen on"));
  EXPECT_THAT(OnlyError("[Socket]\nListenStream=80\nListenStream=\n"),
              HasSubstr("web.gate:1: the gate has nothing to listen on"));
}

TEST(GateFileTest, UnknownSection) {
  LoadResult result = ParseWeb("[Socket]\nListenStream=80\n[Unit]\nDescription=x\n[socket]\nA=1\n");
  EXPECT_THAT(Errors(result),
              ElementsAre("web.gate:3: unknown section [Unit] (known sections: [Socket] "
                          "[Service])",
                          "web.gate:5: unknown section [socket] (did you mean [Socket]?)"));
}

TEST(GateFileTest, ManyErrorsInOneRunInLineOrder) {
  LoadResult result = ParseWeb(
      "[Socket]\n"
      "ListenStream=80\n"
      "Backlog=lots\n"         // 3
      "Accept=perhaps\n"       // 4
      "NoSuchKey=1\n"          // 5
      "ListenStream=80\n"      // 6
      "IPAddressAllow=nope\n"  // 7
      "garbage line\n"         // 8
      "[Service]\n"            // 9
      "ExecStart=relative\n"   // 10
      "User=ghost\n"           // 11
      "RestartSec=-1\n");      // 12
  EXPECT_THAT(
      Errors(result),
      ElementsAre(HasSubstr("web.gate:3: Backlog="), HasSubstr("web.gate:4: Accept="),
                  HasSubstr("web.gate:5: unknown key"),
                  HasSubstr("web.gate:6: ListenStream=: duplicate"),
                  HasSubstr("web.gate:7: IPAddressAllow="), HasSubstr("web.gate:8: missing \"=\""),
                  HasSubstr("web.gate:10: ExecStart="), HasSubstr("web.gate:11: User="),
                  HasSubstr("web.gate:12: RestartSec=")));
  // The gate is still returned, as far as it was understood.
  ASSERT_THAT(result.config.gates, SizeIs(1));
  EXPECT_THAT(result.config.gates[0].socket.listen, SizeIs(1));
}

TEST(GateFileTest, NoFollowOnErrorsForARefusedListenerOrCommand) {
  EXPECT_THAT(
      Errors(ParseWeb("[Socket]\nListenStream=example.com:80\n[Service]\n"
                      "ExecStart=relative\nUser=root\nAccept=yes\n")),
      ElementsAre(HasSubstr("web.gate:2: ListenStream="), HasSubstr("web.gate:4: ExecStart="),
                  HasSubstr("web.gate:6: unknown key \"Accept=\" in [Service]")));
  // Reset after the refused value: then the gate really has none.
  EXPECT_THAT(Errors(ParseWeb("[Socket]\nListenStream=x\nListenStream=\n")),
              ElementsAre(HasSubstr("web.gate:1: the gate has nothing to listen on"),
                          HasSubstr("web.gate:2: ListenStream=")));
}

TEST(GateFileTest, DropInsApplyInOrderAfterTheMainFile) {
  LoadResult result = ParseWeb(
      "[Socket]\nListenStream=80\nBindToDevice=wg0\n[Service]\nExecStart=/bin/a\nUser=root\n",
      {"[Socket]\nBindToDevice=wg1\nListenStream=81\n",
       "[Service]\nExecStart=\nExecStart=/bin/b --from-dropin\nEnvironment=X=1\n",
       "[Socket]\nListenStream=\nListenStream=8443\n"});
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(Errors(result));
  const GateConfig& gate = result.config.gates[0];
  EXPECT_EQ(gate.socket.bind_to_device, "wg1");
  ASSERT_THAT(gate.socket.listen, SizeIs(1));
  EXPECT_EQ(gate.socket.listen[0].port, 8443);
  EXPECT_EQ(gate.socket.listen[0].where, (Location{"web.gate.d/30.conf", 3}));
  ASSERT_TRUE(gate.service.has_value());
  EXPECT_THAT(gate.service->exec_start, ElementsAre("/bin/b", "--from-dropin"));
  EXPECT_EQ(gate.service->exec_start_where, (Location{"web.gate.d/20.conf", 3}));
  EXPECT_EQ(gate.service->user->name, "root");
  EXPECT_THAT(gate.service->environment, ElementsAre("X=1"));
}

TEST(GateFileTest, DropInErrorsNameTheDropIn) {
  LoadResult result = ParseWeb("[Socket]\nListenStream=80\n",
                               {"[Socket]\n# c\nListenStream=80\n", "[Sockets]\nA=1\nbad\n",
                                "[Service]\nExecStart=/bin/x\nUser=nobody-here\n"});
  EXPECT_THAT(Errors(result),
              ElementsAre("web.gate.d/10.conf:3: ListenStream=: duplicate listener 80: already "
                          "set by ListenStream= at web.gate:2",
                          HasSubstr("web.gate.d/20.conf:1: unknown section [Sockets]"),
                          HasSubstr("web.gate.d/20.conf:3: missing \"=\""),
                          "web.gate.d/30.conf:3: User=: no such user \"nobody-here\""));
}

TEST(GateFileTest, DropInMayCarryTheListenerTheMainFileLacks) {
  LoadResult result = ParseWeb("[Service]\nExecStart=/bin/x\n", {"[Socket]\nListenStream=80\n"});
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(Errors(result));
  EXPECT_EQ(result.config.gates[0].where, (Location{"web.gate.d/10.conf", 1}));
}

TEST(GateFileTest, SpecifiersUseTheGateName) {
  FakeResolver resolver;
  LoadResult result = ParseGate(
      "api@2", SourceText{"api@2.gate", "[Socket]\nListenStream=/run/%n.sock\n"}, {}, resolver);
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(Errors(result));
  EXPECT_EQ(result.config.gates[0].socket.listen[0].path, "/run/api@2.sock");
  EXPECT_EQ(result.config.gates[0].socket.fd_name, "api@2");
}

TEST(GateFileTest, InvalidGateNames) {
  FakeResolver resolver;
  for (const std::string& name : std::vector<std::string>{
           "", ".hidden", "-x", "sp ace", "a:b", "a/b", std::string(129, 'a'), "caf\xc3\xa9"}) {
    LoadResult result =
        ParseGate(name, SourceText{"x.gate", "[Socket]\nListenStream=80\n"}, {}, resolver);
    EXPECT_THAT(Errors(result), ElementsAre(HasSubstr("x.gate:1: invalid gate name"))) << name;
  }
}

TEST(GateFileTest, TrailingCommentIsPartOfTheValue) {
  EXPECT_EQ(OnlyError("[Socket]\nListenStream=80\nAccept=no # x\n"),
            "web.gate:3: Accept=: \"no # x\" is not a boolean (use yes or no)");
}

TEST(GateFileTest, HostileTextGivesErrorsNotCrashes) {
  std::string binary;
  for (int i = 0; i < 100000; ++i) binary.push_back(static_cast<char>((i * 131 + 7) % 256));
  LoadResult result = ParseWeb(binary);
  EXPECT_FALSE(result.ok());
  EXPECT_LE(result.errors.size(), Diagnostics::kMaxErrorsPerFile + 2u);

  std::string huge(2 * 1024 * 1024, 'A');
  EXPECT_THAT(Errors(ParseWeb(huge)),
              ElementsAre(HasSubstr("web.gate:1: file is larger than 1 MiB"),
                          HasSubstr("web.gate:1: the gate has nothing to listen on")));

  std::string long_line =
      "[Socket]\nListenStream=80\nIPAddressAllow=" + std::string(100 * 1024, '1') + "\n";
  EXPECT_THAT(Errors(ParseWeb(long_line)),
              ElementsAre(HasSubstr("web.gate:3: line is longer than 64 KiB")));

  EXPECT_THAT(Errors(ParseWeb(std::string("[Socket]\nListenStream=80\nAccept=n\0o\n", 36))),
              ElementsAre("web.gate:3: line contains a NUL byte"));
}

TEST(GateFileTest, DiagnosticsAreCappedPerFileButCounted) {
  std::string text = "[Socket]\nListenStream=80\n";
  for (int i = 0; i < 250; ++i) text += "Bogus=1\n";
  LoadResult result = ParseWeb(text);
  ASSERT_THAT(result.errors, SizeIs(Diagnostics::kMaxErrorsPerFile + 1));
  EXPECT_EQ(result.errors.back().ToString(),
            "web.gate:103: 150 more errors in this file are not shown (the first 100 are)");
}

}  // namespace
}  // namespace gatekeeper::config
