#include <algorithm>
#include <string>
#include <vector>

#include "config/unit_lexer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

struct Lexed {
  UnitText unit;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

Lexed Lex(std::string_view text) {
  Diagnostics diags;
  Lexed out;
  out.unit = LexUnit("t.gate", text, diags);
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  diags.Finish(errors, warnings);
  for (const Diagnostic& d : errors) out.errors.push_back(d.ToString());
  for (const Diagnostic& d : warnings) out.warnings.push_back(d.ToString());
  return out;
}

// "Section/Key=Value@line" for each assignment.
std::vector<std::string> Flat(const UnitText& unit) {
  std::vector<std::string> out;
  for (const Assignment& a : unit.assignments) {
    out.push_back(a.section + "/" + a.key + "=" + a.value + "@" + std::to_string(a.where.line));
  }
  return out;
}

TEST(LexerTest, SectionsAndAssignmentsWithLines) {
  Lexed l = Lex("[Socket]\nListenStream=80\n\n[Service]\nExecStart=/bin/true\n");
  EXPECT_THAT(l.errors, IsEmpty());
  EXPECT_THAT(Flat(l.unit),
              ElementsAre("Socket/ListenStream=80@2", "Service/ExecStart=/bin/true@5"));
  ASSERT_THAT(l.unit.sections, SizeIs(2));
  EXPECT_EQ(l.unit.sections[1].name, "Service");
  EXPECT_EQ(l.unit.sections[1].where, (Location{"t.gate", 4}));
}

TEST(LexerTest, WholeLineCommentsOnly) {
  Lexed l = Lex("# a\n; b\n[S]\n   # indented\n\t; tab\nA=no # x\nB=1;2\n");
  EXPECT_THAT(l.errors, IsEmpty());
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/A=no # x@6", "S/B=1;2@7"));
}

TEST(LexerTest, TrimsKeysAndValues) {
  Lexed l = Lex("  [S]  \n \t Key \t=  a b  \t\nEmpty=\nSpaces=   \n");
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/Key=a b@2", "S/Empty=@3", "S/Spaces=@4"));
}

TEST(LexerTest, ValueMayContainEquals) {
  EXPECT_THAT(Flat(Lex("[S]\nEnvironment=A=B=C\n").unit), ElementsAre("S/Environment=A=B=C@2"));
}

TEST(LexerTest, ContinuationJoinsWithASpaceAndKeepsTheFirstLine) {
  Lexed l = Lex("[S]\nExecStart=/bin/a \\\n  -b \\\n-c\nNext=1\n");
  EXPECT_THAT(l.errors, IsEmpty());
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/ExecStart=/bin/a    -b  -c@2", "S/Next=1@5"));
}

TEST(LexerTest, CommentLinesInsideAContinuationAreSkipped) {
  Lexed l = Lex("[S]\nA=one \\\n# not part of it\n  ; nor this\ntwo\nB=2\n");
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/A=one  two@2", "S/B=2@6"));
}

TEST(LexerTest, EmptyLineEndsAContinuation) {
  EXPECT_THAT(Flat(Lex("[S]\nA=one \\\n\nB=2\n").unit), ElementsAre("S/A=one@2", "S/B=2@4"));
}

TEST(LexerTest, EscapedBackslashAtTheEndIsNoContinuation) {
  Lexed l = Lex("[S]\nA=x\\\\\nB=y\\\\\\\nz\n");
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/A=x\\\\@2", "S/B=y\\\\ z@3"));
}

TEST(LexerTest, ContinuedLastLineIsUsed) {
  EXPECT_THAT(Flat(Lex("[S]\nA=x \\").unit), ElementsAre("S/A=x@2"));
}

TEST(LexerTest, CrLfAndByteOrderMark) {
  Lexed l = Lex("\xef\xbb\xbf[S]\r\nA=1\r\nB=2\rC=3");
  EXPECT_THAT(l.errors, IsEmpty());
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/A=1@2", "S/B=2@3", "S/C=3@4"));
}

TEST(LexerTest, RepeatedSectionsContinue) {
  EXPECT_THAT(Flat(Lex("[A]\nx=1\n[B]\ny=2\n[A]\nz=3\n").unit),
              ElementsAre("A/x=1@2", "B/y=2@4", "A/z=3@6"));
}

TEST(LexerTest, SyntaxErrorsAreAllReportedAndParsingGoesOn) {
  Lexed l = Lex("Early=1\n[S]\nno equals sign\n=value\n[Broken\nIgnored=1\n[]\n[Good]\nK=v\n");
  EXPECT_THAT(l.errors, ElementsAre(HasSubstr("t.gate:1: assignment outside of a section"),
                                    HasSubstr("t.gate:3: missing \"=\" in \"no equals sign\""),
                                    HasSubstr("t.gate:4: missing key name"),
                                    HasSubstr("t.gate:5: invalid section header \"[Broken\""),
                                    HasSubstr("t.gate:7: invalid section name \"\"")));
  EXPECT_THAT(Flat(l.unit), ElementsAre("Good/K=v@9"));
}

TEST(LexerTest, UnsafeSectionName) {
  EXPECT_THAT(Lex("[A\"B]\n").errors, ElementsAre(HasSubstr("t.gate:1: invalid section name")));
}

TEST(LexerTest, NulByteIsAnErrorOnItsLine) {
  Lexed l = Lex(std::string("[S]\nA=1\nB=x\0y\nC=3\n", 18));
  EXPECT_THAT(l.errors, ElementsAre("t.gate:3: line contains a NUL byte"));
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/A=1@2", "S/C=3@4"));
}

TEST(LexerTest, InvalidUtf8IsAnError) {
  for (std::string bad : {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    Lexed l = Lex("[S]\nA=" + bad + "\n# comment \xff\nB=2\n");
    EXPECT_THAT(l.errors, ElementsAre("t.gate:2: line is not valid UTF-8",
                                      "t.gate:3: line is not valid UTF-8"));
    EXPECT_THAT(Flat(l.unit), ElementsAre("S/B=2@4"));
  }
  EXPECT_THAT(Lex("[S]\nA=caf\xc3\xa9 \xf0\x9f\x94\x91\n").errors, IsEmpty());
}

TEST(LexerTest, BadLineInsideAContinuationDropsTheWholeLogicalLine) {
  Lexed l = Lex("[S]\nA=1 \\\n\xff \\\n3\nB=2\n");
  EXPECT_THAT(l.errors, ElementsAre("t.gate:3: line is not valid UTF-8"));
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/B=2@5"));
}

TEST(LexerTest, LongLineIsAnErrorNamingItsLine) {
  std::string text = "[S]\nA=1\nB=" + std::string(100 * 1024, 'x') + "\nC=3\n";
  Lexed l = Lex(text);
  EXPECT_THAT(l.errors, ElementsAre(HasSubstr("t.gate:3: line is longer than 64 KiB")));
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/A=1@2", "S/C=3@4"));
}

TEST(LexerTest, LongContinuedLineIsAnErrorAtItsFirstLine) {
  std::string chunk = std::string(40 * 1024, 'x') + " \\\n";
  Lexed l = Lex("[S]\nA=" + chunk + chunk + chunk + "end\nB=2\n");
  EXPECT_THAT(l.errors, ElementsAre(HasSubstr("t.gate:2: continued line is longer than 64 KiB")));
  EXPECT_THAT(Flat(l.unit), ElementsAre("S/B=2@6"));
}

TEST(LexerTest, FileOverOneMebibyteIsRefusedWhole) {
  std::string pair = "[S]\n" + std::string(1000, '#') + "\n";
  std::string text;
  while (text.size() <= 2 * kMaxFileBytes) text += pair;
  Lexed l = Lex(text);
  ASSERT_THAT(l.errors, SizeIs(1));
  EXPECT_THAT(l.errors[0], HasSubstr("file is larger than 1 MiB"));
  int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + kMaxFileBytes, '\n'));
  EXPECT_THAT(l.errors[0], HasSubstr("t.gate:" + std::to_string(line) + ":"));
  EXPECT_THAT(l.unit.sections, IsEmpty());
}

TEST(LexerTest, BinaryGarbageGivesCappedErrorsNotACrash) {
  std::string text;
  for (int i = 0; i < 200000; ++i) text.push_back(static_cast<char>((i * 7919) % 256));
  Lexed l = Lex(text);
  ASSERT_FALSE(l.errors.empty());
  EXPECT_LE(l.errors.size(), Diagnostics::kMaxErrorsPerFile + 1);
  EXPECT_THAT(l.errors.back(), HasSubstr("more errors in this file are not shown"));
}

}  // namespace
}  // namespace gatekeeper::config
