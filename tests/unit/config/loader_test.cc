// Loading from the file system: directories, drop-ins, explicit file lists, broken files.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/config/test_util.h"

namespace gatekeeper::config {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::vector<std::string> GateNames(const LoadResult& result) {
  std::vector<std::string> out;
  for (const GateConfig& g : result.config.gates) out.push_back(g.name);
  return out;
}

TEST(LoaderTest, ExampleConfigsLoadCleanly) {
  FakeResolver resolver;
  std::string dir = std::string(GK_SOURCE_DIR) + "/configs";
  LoadResult result = LoadConfigDir(dir, resolver);
  EXPECT_THAT(Errors(result), IsEmpty());
  EXPECT_THAT(Warnings(result), IsEmpty());
  EXPECT_THAT(GateNames(result), ElementsAre("sshd", "web"));
  EXPECT_EQ(result.config.host.control_group, 4u);
  EXPECT_FALSE(result.config.host.lists.deny.empty());

  const GateConfig& sshd = result.config.gates[0];
  EXPECT_TRUE(sshd.socket.accept);
  EXPECT_EQ(sshd.socket.bind_to_device, "wg0");
  EXPECT_EQ(sshd.socket.lists.allow.entries().size(), 2u);
  ASSERT_TRUE(sshd.service.has_value());
  EXPECT_THAT(sshd.service->exec_start, ElementsAre("/usr/sbin/sshd", "-i", "-e"));

  const GateConfig& web = result.config.gates[1];
  EXPECT_EQ(web.file, dir + "/web.gate");
  EXPECT_EQ(web.socket.fd_name, "https");
  ASSERT_THAT(web.socket.listen, SizeIs(1));
  EXPECT_EQ(web.socket.listen[0].kind, ListenSpec::Kind::kAnyAddress);
  ASSERT_TRUE(web.service.has_value());
  EXPECT_EQ(web.service->user->name, "www-data");
  EXPECT_EQ(web.service->restart, Restart::kOnFailure);

  LoadResult files =
      LoadFiles({dir + "/web.gate", dir + "/sshd.gate", dir + "/gatekeeper.conf"}, resolver);
  EXPECT_THAT(Errors(files), IsEmpty());
  EXPECT_THAT(GateNames(files), ElementsAre("sshd", "web"));
}

TEST(LoaderTest, DirectoryWithDropInsAndIgnoredFiles) {
  TempDir tmp;
  tmp.Write("web.gate", "[Socket]\nListenStream=80\n");
  tmp.Write("web.gate.d/20-late.conf", "[Socket]\nBindToDevice=wg2\n");
  tmp.Write("web.gate.d/10-early.conf", "[Socket]\nBindToDevice=wg1\nListenStream=81\n");
  tmp.Write("web.gate.d/.hidden.conf", "garbage");
  tmp.Write("web.gate.d/notes.txt", "garbage");
  tmp.Write("api.gate", "[Socket]\nListenStream=/run/api.sock\n");
  tmp.Write(".hidden.gate", "garbage");
  tmp.Write("web.gate.bak", "garbage");
  tmp.Write("README", "garbage");
  tmp.Write("gatekeeper.conf", "[Host]\nIPAddressDeny=203.0.113.0/24\n");
  FakeResolver resolver;
  LoadResult result = LoadConfigDir(tmp.path(), resolver);
  ASSERT_THAT(Errors(result), IsEmpty());
  EXPECT_THAT(GateNames(result), ElementsAre("api", "web"));
  const GateConfig& web = result.config.gates[1];
  EXPECT_EQ(web.socket.bind_to_device, "wg2");
  ASSERT_THAT(web.socket.listen, SizeIs(2));
  EXPECT_EQ(web.socket.listen[1].where, (Location{tmp.path() + "/web.gate.d/10-early.conf", 3}));
  EXPECT_EQ(result.config.host.lists.deny.entries().size(), 1u);
}

TEST(LoaderTest, NoHostFileIsFine) {
  TempDir tmp;
  tmp.Write("web.gate", "[Socket]\nListenStream=80\n");
  FakeResolver resolver;
  LoadResult result = LoadConfigDir(tmp.path(), resolver);
  EXPECT_TRUE(result.ok());
  EXPECT_TRUE(result.config.host.lists.allow.empty());
  EXPECT_EQ(result.config.host.control_group, std::nullopt);
}

TEST(LoaderTest, DuplicateListenersAcrossGates) {
  TempDir tmp;
  tmp.Write("a.gate", "[Socket]\nListenStream=8443\nListenDatagram=/run/shared\n");
  tmp.Write("b.gate", "[Socket]\nListenStream=8443\nListenStream=8444\n");
  tmp.Write("c.gate", "[Socket]\nListenStream=/run/shared\nListenStream=8444\n");
  FakeResolver resolver;
  LoadResult result = LoadConfigDir(tmp.path(), resolver);
  std::string a = tmp.path() + "/a.gate";
  std::string b = tmp.path() + "/b.gate";
  EXPECT_THAT(Errors(result),
              ElementsAre(b +
                              ":2: ListenStream=: duplicate listener 8443: gate \"a\" already "
                              "listens there (" +
                              a + ":2)",
                          HasSubstr("c.gate:2: ListenStream=: duplicate listener /run/shared: "
                                    "gate \"a\""),
                          HasSubstr("c.gate:3: ListenStream=: duplicate listener 8444: gate "
                                    "\"b\"")));
}

TEST(LoaderTest, EveryGateIsCheckedAndErrorsComeInFileOrder) {
  TempDir tmp;
  tmp.Write("gatekeeper.conf", "[Host]\nIPAddressAllow=nope\n");
  tmp.Write("b.gate", "[Socket]\nBacklog=x\n");
  tmp.Write("a.gate", "[Socket]\nListenStream=80\nAccept=sure\n");
  FakeResolver resolver;
  LoadResult result = LoadConfigDir(tmp.path(), resolver);
  EXPECT_THAT(Errors(result), ElementsAre(HasSubstr("gatekeeper.conf:2: IPAddressAllow="),
                                          HasSubstr("a.gate:3: Accept="),
                                          HasSubstr("b.gate:1: the gate has "
                                                    "nothing to listen on"),
                                          HasSubstr("b.gate:2: Backlog=")));
}

TEST(LoaderTest, DropInSymlinkLoopIsAnError) {
  TempDir tmp;
  tmp.Write("web.gate", "[Socket]\nListenStream=80\n");
  tmp.Write("web.gate.d/10-ok.conf", "[Socket]\nBindToDevice=wg0\n");
  std::string loop = tmp.path() + "/web.gate.d/20-loop.conf";
  ASSERT_EQ(symlink("20-loop.conf", loop.c_str()), 0);
  FakeResolver resolver;
  LoadResult result = LoadConfigDir(tmp.path(), resolver);
  EXPECT_THAT(Errors(result), ElementsAre(AllOf(HasSubstr(loop + ":1: cannot read: "),
                                                HasSubstr("symbolic links"))));
  // The rest of the gate is still read.
  ASSERT_THAT(result.config.gates, SizeIs(1));
  EXPECT_EQ(result.config.gates[0].socket.bind_to_device, "wg0");
}

TEST(LoaderTest, DropInDirectorySymlinkLoopIsAnError) {
  TempDir tmp;
  tmp.Write("web.gate", "[Socket]\nListenStream=80\n");
  std::string dir = tmp.path() + "/web.gate.d";
  ASSERT_EQ(symlink("web.gate.d", dir.c_str()), 0);
  FakeResolver resolver;
  EXPECT_THAT(Errors(LoadConfigDir(tmp.path(), resolver)),
              ElementsAre(AllOf(HasSubstr(dir + ": cannot read drop-in directory"),
                                HasSubstr("symbolic links"))));
}

TEST(LoaderTest, NonRegularFilesAreRefusedNotRead) {
  TempDir tmp;
  tmp.Write("web.gate", "[Socket]\nListenStream=80\n");
  std::string dir_dropin = tmp.path() + "/web.gate.d/10.conf";
  ASSERT_EQ(mkdir((tmp.path() + "/web.gate.d").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir_dropin.c_str(), 0755), 0);
  std::string fifo = tmp.path() + "/fifo.gate";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);  // reading it would block forever
  FakeResolver resolver;
  LoadResult result = LoadConfigDir(tmp.path(), resolver);
  EXPECT_THAT(
      Errors(result),
      ElementsAre(fifo + ":1: cannot read: " + fifo + " is not a regular file",
                  dir_dropin + ":1: cannot read: " + dir_dropin + " is not a regular file"));
  EXPECT_THAT(GateNames(result), ElementsAre("web"));
}

TEST(LoaderTest, UnreadableFileIsAnError) {
  // A dangling symlink: unreadable for root too (a file with mode 0 is not).
  TempDir tmp;
  const std::string path = tmp.path() + "/web.gate";
  ASSERT_EQ(symlink((tmp.path() + "/gone").c_str(), path.c_str()), 0);
  FakeResolver resolver;
  EXPECT_THAT(Errors(LoadConfigDir(tmp.path(), resolver)),
              ElementsAre(HasSubstr(path + ":1: cannot read: ")));
}

TEST(LoaderTest, MissingDirectory) {
  FakeResolver resolver;
  TempDir tmp;
  std::string missing = tmp.path() + "/nope";
  EXPECT_THAT(Errors(LoadConfigDir(missing, resolver)),
              ElementsAre(HasSubstr(missing + ": cannot read the configuration directory")));
}

TEST(LoaderTest, HostileFilesGiveErrorsNotCrashes) {
  TempDir tmp;
  std::string binary;
  for (int i = 0; i < 300000; ++i) binary.push_back(static_cast<char>((i * 2654435761u) >> 24));
  tmp.Write("binary.gate", binary);
  tmp.Write("huge.gate", "[Socket]\nListenStream=80\n" + std::string(2 * 1024 * 1024, '#'));
  tmp.Write("longline.gate",
            "[Socket]\nListenStream=81\nFileDescriptorName=" + std::string(100 * 1024, 'x') + "\n");
  FakeResolver resolver;
  LoadResult result = LoadConfigDir(tmp.path(), resolver);
  std::vector<std::string> errors = Errors(result);
  auto mentions = [&errors](const std::string& what) {
    return std::count_if(errors.begin(), errors.end(), [&what](const std::string& e) {
      return e.find(what) != std::string::npos;
    });
  };
  EXPECT_GE(mentions("binary.gate:"), 1);
  EXPECT_LE(mentions("binary.gate:"), Diagnostics::kMaxErrorsPerFile + 1);
  EXPECT_EQ(mentions("huge.gate:3: file is larger than 1 MiB"), 1);
  EXPECT_EQ(mentions("longline.gate:3: line is longer than 64 KiB"), 1);
}

TEST(LoaderTest, LoadFilesChecksWhatItIsGiven) {
  TempDir tmp;
  std::string web = tmp.Write("web.gate", "[Socket]\nListenStream=80\n");
  std::string other_web = tmp.Write("other/web.gate", "[Socket]\nListenStream=81\n");
  std::string host = tmp.Write("gatekeeper.conf", "[Host]\n");
  std::string host2 = tmp.Write("other/gatekeeper.conf", "[Host]\n");
  std::string dropin = tmp.Write("web.gate.d/10.conf", "[Socket]\nBindToDevice=wg0\n");
  std::string missing = tmp.path() + "/missing.gate";
  FakeResolver resolver;
  LoadResult result = LoadFiles({web, other_web, host, host2, dropin, missing}, resolver);
  EXPECT_THAT(
      Errors(result),
      ElementsAre(other_web + ": gate \"web\" is already loaded from " + web,
                  host2 + ": only one gatekeeper.conf may be given; " + host + " is already loaded",
                  HasSubstr(dropin + ": not a gate file (NAME.gate) or gatekeeper.conf"),
                  AllOf(HasSubstr(missing + ":1: cannot read: "), HasSubstr("No such file"))));
  ASSERT_THAT(GateNames(result), ElementsAre("web"));
  EXPECT_EQ(result.config.gates[0].socket.bind_to_device, "wg0");  // its drop-in was read
}

TEST(LoaderTest, HostFileSymlinkLoopIsAnError) {
  TempDir tmp;
  tmp.Write("web.gate", "[Socket]\nListenStream=80\n");
  std::string host = tmp.path() + "/gatekeeper.conf";
  ASSERT_EQ(symlink("gatekeeper.conf", host.c_str()), 0);  // a loop, not a missing file
  FakeResolver resolver;
  EXPECT_THAT(Errors(LoadConfigDir(tmp.path(), resolver)),
              ElementsAre(HasSubstr(host + ":1: cannot read: ")));
}

// The one test that reads the machine's user database: root is in every /etc/passwd.
TEST(SystemUserResolverTest, ResolvesRootAndNotNonsense) {
  SystemUserResolver resolver;
  EXPECT_EQ(resolver.Uid("root"), 0u);
  EXPECT_EQ(resolver.Gid("root"), 0u);
  EXPECT_EQ(resolver.Uid("gk-no-such-user-4711"), std::nullopt);
  EXPECT_EQ(resolver.Gid("gk-no-such-group-4711"), std::nullopt);
  EXPECT_EQ(resolver.Uid(std::string_view("root\0x", 6)), std::nullopt);
}

}  // namespace
}  // namespace gatekeeper::config
