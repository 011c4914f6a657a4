// The unit search path under a root: aliases, templates, drop-ins, masking, bad files.
#include "analyze/unit_loader.h"

#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/analyze/test_root.h"

namespace gatekeeper::analyze {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string AllWarnings(UnitLoader& l) {
  std::string out;
  for (const Warning& w : l.warnings()) out += FormatWarning(w) + "\n";
  return out;
}

TEST(UnitLoaderTest, FirstDirectoryWinsAndDropinsApplyInNameOrder) {
  TestRoot t;
  t.Write("/lib/systemd/system/a.service", "[Unit]\nAfter=lib.target\n");
  t.Write("/etc/systemd/system/a.service", "[Unit]\nAfter=etc.target\n");
  t.Write("/lib/systemd/system/a.service.d/10-x.conf", "[Unit]\nDescription=lib\n");
  t.Write("/etc/systemd/system/a.service.d/10-x.conf", "[Unit]\nDescription=etc\n");
  t.Write("/lib/systemd/system/service.d/05-all.conf", "[Unit]\nDescription=all\n");
  t.Write("/run/systemd/system/a-.service.d/20-dash.conf", "[Unit]\nDescription=dash\n");
  RootFs fs(t.dir());
  UnitLoader l(fs);
  const Unit& u = l.Load("a.service");
  EXPECT_EQ(u.state, LoadState::kLoaded);
  EXPECT_EQ(u.fragment, "/etc/systemd/system/a.service");
  EXPECT_EQ(u.dropins, (std::vector<std::string>{"/lib/systemd/system/service.d/05-all.conf",
                                                 "/etc/systemd/system/a.service.d/10-x.conf"}));
  EXPECT_EQ(u.Last("Unit", "Description"), "etc");
  // "a.service" has no dash; the a-.service.d drop-in is for "a-b.service".
  const Unit& ab = l.Load("a-b.service");
  EXPECT_EQ(ab.state, LoadState::kNotFound);
}

TEST(UnitLoaderTest, TemplatesInstancesAliasesAndWants) {
  TestRoot t;
  t.Write("/lib/systemd/system/getty@.service", "[Unit]\nAfter=dev-%i.device\n");
  t.Write("/lib/systemd/system/getty@.service.d/x.conf", "[Unit]\nDescription=tpl\n");
  // Absolute link: must resolve inside the root, not on the host.
  t.Symlink("/lib/systemd/system/real.service", "/etc/systemd/system/alias.service");
  t.Write("/lib/systemd/system/real.service", "[Unit]\nDescription=real\n");
  t.Symlink("/lib/systemd/system/getty@.service",
            "/etc/systemd/system/getty.target.wants/getty@tty1.service");
  t.Write("/lib/systemd/system/getty.target", "[Unit]\n");
  RootFs fs(t.dir());
  UnitLoader l(fs);
  const Unit& g = l.Load("getty@tty1.service");
  EXPECT_EQ(g.state, LoadState::kLoaded);
  EXPECT_EQ(g.fragment, "/lib/systemd/system/getty@.service");
  EXPECT_EQ(g.Last("Unit", "Description"), "tpl");
  const Unit& a = l.Load("alias.service");
  EXPECT_EQ(a.name, "real.service");
  EXPECT_THAT(a.aliases, Contains("alias.service"));
  const Unit& target = l.Load("getty.target");
  ASSERT_EQ(target.directory_deps.size(), 1u);
  EXPECT_EQ(target.directory_deps[0].key, "Wants");
  EXPECT_EQ(target.directory_deps[0].value, "getty@tty1.service");
  EXPECT_THAT(AllWarnings(l), IsEmpty());
}

TEST(UnitLoaderTest, MaskedUnits) {
  TestRoot t;
  t.Write("/lib/systemd/system/a.service", "[Unit]\n");
  t.Write("/lib/systemd/system/b.service", "[Unit]\n");
  t.Symlink("/dev/null", "/etc/systemd/system/a.service");
  t.Write("/etc/systemd/system/b.service", "");
  RootFs fs(t.dir());
  UnitLoader l(fs);
  EXPECT_EQ(l.Load("a.service").state, LoadState::kMasked);
  EXPECT_EQ(l.Load("b.service").state, LoadState::kMasked);
}

TEST(UnitLoaderTest, LoopsDirectoriesAndUnreadableFilesAreWarnings) {
  TestRoot t;
  t.Symlink("b.service", "/etc/systemd/system/a.service");
  t.Symlink("a.service", "/etc/systemd/system/b.service");
  std::filesystem::create_directories(t.dir() + "/etc/systemd/system/dir.service");
  t.Symlink("/nowhere.service", "/etc/systemd/system/dangling.service");
  t.Write("/etc/systemd/system/secret.service", "[Unit]\n");
  chmod((t.dir() + "/etc/systemd/system/secret.service").c_str(), 0);
  t.Symlink("loop.d", "/etc/systemd/system/c.service.d");
  t.Write("/etc/systemd/system/c.service", "[Unit]\n");
  RootFs fs(t.dir());
  UnitLoader l(fs);
  EXPECT_EQ(l.Load("a.service").state, LoadState::kError);
  EXPECT_EQ(l.Load("dir.service").state, LoadState::kError);
  EXPECT_EQ(l.Load("dangling.service").state, LoadState::kNotFound);
  EXPECT_EQ(l.Load("c.service").state, LoadState::kLoaded);
  const std::string w = AllWarnings(l);
  EXPECT_THAT(w, HasSubstr("a.service: warning: "));
  EXPECT_THAT(w, HasSubstr("symlink loop"));
  EXPECT_THAT(w, HasSubstr("dir.service: warning: is a directory"));
  EXPECT_THAT(w, HasSubstr("dangling symlink"));
  if (geteuid() != 0) {
    EXPECT_EQ(l.Load("secret.service").state, LoadState::kError);
    EXPECT_THAT(AllWarnings(l), HasSubstr("secret.service: warning: unreadable"));
  }
}

// Root reads a mode-000 file anyway, so the unreadable case runs as "nobody" in a child process
// (the suite runs as root). The child reports through its exit status.
TEST(UnitLoaderTest, UnreadableFileIsAWarningForAnyUser) {
  TestRoot t;
  t.Write("/etc/systemd/system/secret.service", "[Unit]\n");
  ASSERT_EQ(chmod((t.dir() + "/etc/systemd/system/secret.service").c_str(), 0), 0);
  ASSERT_EQ(chmod(t.dir().c_str(), 0755), 0);  // mkdtemp made it 0700
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    constexpr uid_t kNobody = 65534;
    if (geteuid() == 0 &&
        (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
         setresuid(kNobody, kNobody, kNobody) != 0)) {
      _exit(3);
    }
    RootFs fs(t.dir());
    UnitLoader l(fs);
    if (l.Load("secret.service").state != LoadState::kError) _exit(1);
    _exit(AllWarnings(l).find("secret.service: warning: unreadable") == std::string::npos ? 2 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1: not an error, 2: no 'unreadable' warning, 3: could not become nobody";
}

}  // namespace
}  // namespace gatekeeper::analyze
