#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/config/test_util.h"

namespace gatekeeper::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

LoadResult ParseHost(std::string_view text) {
  FakeResolver resolver;
  return ParseHostConfig(SourceText{"gatekeeper.conf", std::string(text)}, resolver);
}

TEST(HostConfigTest, ListsAndControlGroup) {
  LoadResult result = ParseHost(
      "[Host]\nIPAddressDeny=203.0.113.0/24\nIPAddressAllow=203.0.113.10\n[Control]\nGroup=adm\n");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(Errors(result));
  const HostConfig& host = result.config.host;
  ASSERT_EQ(host.lists.deny.entries().size(), 1u);
  EXPECT_EQ(host.lists.deny.entries()[0].origin.ToString(), "gatekeeper.conf:2 IPAddressDeny=");
  EXPECT_EQ(host.lists.allow.entries().size(), 1u);
  EXPECT_EQ(host.control_group, 4u);
  EXPECT_TRUE(result.config.gates.empty());
}

TEST(HostConfigTest, ControlGroupNumericAndReset) {
  EXPECT_EQ(ParseHost("[Control]\nGroup=1234\n").config.host.control_group, 1234u);
  EXPECT_EQ(ParseHost("[Control]\nGroup=adm\nGroup=\n").config.host.control_group, std::nullopt);
  EXPECT_EQ(ParseHost("").config.host.control_group, std::nullopt);
}

TEST(HostConfigTest, Errors) {
  LoadResult result = ParseHost(
      "[Host]\nIPAddressAllow=localhost nope\nListenStream=80\n[Control]\nGroup=ghosts\n"
      "User=root\n[Socket]\n");
  EXPECT_THAT(Errors(result),
              ElementsAre(HasSubstr("gatekeeper.conf:2: IPAddressAllow=: invalid address prefix "
                                    "\"nope\""),
                          "gatekeeper.conf:3: unknown key \"ListenStream=\" in [Host]",
                          "gatekeeper.conf:5: Group=: no such group \"ghosts\"",
                          "gatekeeper.conf:6: unknown key \"User=\" in [Control]",
                          "gatekeeper.conf:7: unknown section [Socket] (known sections: [Host] "
                          "[Control])"));
}

}  // namespace
}  // namespace gatekeeper::config
