#include "activation/credentials.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::activation {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every Debian system has root and nobody/nogroup; nothing here needs privileges.
TEST(CredentialsTest, ResolvesUserWithPrimaryGroupAndHome) {
  auto c = ResolveCredentials("root", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->user, "root");
  EXPECT_EQ(c->uid, 0u);
  EXPECT_EQ(c->gid, 0u);
  EXPECT_EQ(c->home, "/root");
  EXPECT_THAT(c->supplementary_groups, Contains(0u));
}

TEST(CredentialsTest, NobodyByNameAndByNumber) {
  const passwd* pw = getpwnam("nobody");
  ASSERT_NE(pw, nullptr);
  auto by_name = ResolveCredentials("nobody", "");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->uid, pw->pw_uid);
  EXPECT_EQ(by_name->gid, pw->pw_gid);
  EXPECT_THAT(by_name->supplementary_groups, Contains(pw->pw_gid));
  auto by_number = ResolveCredentials(std::to_string(pw->pw_uid), "");
  ASSERT_TRUE(by_number.ok()) << by_number.status();
  EXPECT_EQ(by_number->user, "nobody");
  EXPECT_EQ(by_number->uid, pw->pw_uid);
}

TEST(CredentialsTest, GroupOverridesThePrimaryGroup) {
  const group* gr = getgrnam("nogroup");
  ASSERT_NE(gr, nullptr);
  auto c = ResolveCredentials("root", "nogroup");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->uid, 0u);
  EXPECT_EQ(c->gid, gr->gr_gid);
  EXPECT_THAT(c->supplementary_groups, Contains(gr->gr_gid));
}

TEST(CredentialsTest, GroupAloneKeepsTheDaemonsUserAndDropsItsGroups) {
  const group* gr = getgrnam("nogroup");
  ASSERT_NE(gr, nullptr);
  auto c = ResolveCredentials("", "nogroup");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->uid, geteuid());
  EXPECT_EQ(c->gid, gr->gr_gid);
  EXPECT_THAT(c->supplementary_groups, ElementsAre(gr->gr_gid));
}

TEST(CredentialsTest, UnknownNamesAreNotFoundAndNamed) {
  absl::Status s = ResolveCredentials("gk-no-such-user", "").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("user \"gk-no-such-user\""));
  s = ResolveCredentials("root", "gk-no-such-group").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("group \"gk-no-such-group\""));
  EXPECT_EQ(ResolveCredentials("4000000000", "").status().code(), absl::StatusCode::kNotFound);
}

TEST(CredentialsTest, NeedsUserOrGroup) {
  EXPECT_EQ(ResolveCredentials("", "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CredentialsTest, EnvironmentLikeSystemd) {
  Credentials c{.user = "www", .uid = 33, .gid = 33, .home = "/var/www", .shell = "/bin/sh"};
  EXPECT_THAT(CredentialsEnvironment(c),
              ElementsAre("USER=www", "LOGNAME=www", "HOME=/var/www", "SHELL=/bin/sh"));
}

}  // namespace
}  // namespace gatekeeper::activation
