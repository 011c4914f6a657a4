// The unit-file syntax and unit names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "analyze/unit_file.h"
#include "analyze/unit_name.h"

namespace gatekeeper::analyze {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

TEST(UnitFileTest, SectionsCommentsContinuations) {
  std::vector<Assignment> as;
  std::vector<Warning> ws;
  ParseUnitText(
      "# comment\n[Unit]\n; other comment\nAfter=a.target \\\n# skipped inside\n  b.target\n"
      "Wants=\n\n[Socket]\nListenStream = 80\n",
      "/x.socket", &as, &ws);
  EXPECT_THAT(ws, SizeIs(0));
  ASSERT_THAT(as, SizeIs(3));
  EXPECT_EQ(as[0].section, "Unit");
  EXPECT_EQ(as[0].key, "After");
  EXPECT_EQ(as[0].value, "a.target  b.target");
  EXPECT_EQ(as[0].line, 4);
  EXPECT_EQ(as[1].value, "");  // kept: what an empty value means is the key's business
  EXPECT_EQ(as[2].section, "Socket");
  EXPECT_EQ(as[2].value, "80");
  EXPECT_EQ(as[2].line, 10);
  EXPECT_EQ(SplitWords(as[0].value), (std::vector<std::string>{"a.target", "b.target"}));
}

TEST(UnitFileTest, MalformedLinesAreWarningsWithLine) {
  std::vector<Assignment> as;
  std::vector<Warning> ws;
  ParseUnitText("Key=outside\n[Unit\nnonsense line\n[Unit]\n=novalue\nAfter=x.target\\", "/f", &as,
                &ws);
  ASSERT_THAT(as, SizeIs(1));
  EXPECT_EQ(as[0].key, "After");
  ASSERT_GE(ws.size(), 4u);
  EXPECT_EQ(FormatWarning(ws[0]), "/f:1: warning: assignment outside of any section, ignored");
  EXPECT_EQ(ws[1].line, 2);
  EXPECT_THAT(ws[1].message, HasSubstr("malformed section header"));
}

TEST(UnitFileTest, BinaryJunkNeverCrashes) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 7919) % 256));
  std::vector<Assignment> as;
  std::vector<Warning> ws;
  ParseUnitText(junk, "/junk", &as, &ws);
  SUCCEED();
}

TEST(UnitNameTest, TemplatesAndEscapes) {
  EXPECT_TRUE(IsValidUnitName("wg-quick@wg0.service"));
  EXPECT_FALSE(IsValidUnitName("foo.bar"));
  EXPECT_FALSE(IsValidUnitName("a@b@c.service"));
  EXPECT_TRUE(IsTemplate("wg-quick@.service"));
  EXPECT_EQ(TemplateOf("wg-quick@wg0.service"), "wg-quick@.service");
  EXPECT_EQ(InstanceOf("wg-quick@wg0.service"), "wg0");
  EXPECT_EQ(NetworkDeviceUnit("wg0"), "sys-subsystem-net-devices-wg0.device");
  EXPECT_EQ(NetworkDeviceUnit("wg-home"), "sys-subsystem-net-devices-wg\\x2dhome.device");
  EXPECT_EQ(EscapePath("/"), "-");
  EXPECT_EQ(EscapePath("/var/tmp/"), "var-tmp");
}

TEST(UnitNameTest, Specifiers) {
  const std::string n = "foo-bar@a\\x2db.service";
  EXPECT_EQ(ExpandSpecifiers("%n %N %p %i %I %j %%", n, nullptr),
            "foo-bar@a\\x2db.service foo-bar@a\\x2db foo-bar a\\x2db a-b bar %");
  EXPECT_EQ(ExpandSpecifiers("%f", "x@dev-sda.service", nullptr), "/dev/sda");
  std::vector<std::string> unknown;
  EXPECT_EQ(ExpandSpecifiers("%H", n, &unknown), "%H");
  EXPECT_THAT(unknown, SizeIs(1));
}

}  // namespace
}  // namespace gatekeeper::analyze
