#include "config/unit_lexer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "config/text_util.h"

namespace gatekeeper::config {
namespace {

constexpr std::string_view kUtf8Bom = "\xef\xbb\xbf";

// systemd scans the whole line, letting each backslash escape the next character; the result is
// the same as asking whether the line ends in an odd run of backslashes.
bool EndsInContinuation(std::string_view line) {
  size_t run = 0;
  while (run < line.size() && line[line.size() - 1 - run] == '\\') ++run;
  return run % 2 == 1;
}

bool IsComment(std::string_view line) {
  size_t first = line.find_first_not_of(kWhitespace);
  return first != std::string_view::npos && (line[first] == '#' || line[first] == ';');
}

// Characters systemd's string_is_safe() refuses in a section name.
bool IsSafeSectionName(std::string_view name) {
  return std::none_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\' || c == '"' || c == '\'';
  });
}

// Returns an error message for a physical line that cannot be used, or an empty string.
std::string CheckPhysicalLine(std::string_view raw) {
  if (raw.size() > kMaxLineBytes) {
    return absl::StrCat("line is longer than ", kMaxLineBytes / 1024, " KiB (", raw.size(),
                        " bytes)");
  }
  if (raw.find('\0') != std::string_view::npos) return "line contains a NUL byte";
  if (!IsValidUtf8(raw)) return "line is not valid UTF-8";
  return "";
}

class Lexer {
 public:
  Lexer(const std::string& file, Diagnostics& diags) : file_(file), diags_(diags) {}

  UnitText Run(std::string_view text);

 private:
  void Error(int line, std::string message) {
    diags_.Error(Location{file_, line}, std::move(message));
  }
  void ParseLogicalLine(std::string_view text, int line);

  const std::string& file_;
  Diagnostics& diags_;
  UnitText out_;
  std::string section_;
  bool section_valid_ = false;
  bool seen_header_ = false;
};

UnitText Lexer::Run(std::string_view text) {
  if (text.size() > kMaxFileBytes) {
    // Nothing is used: a truncated file could silently lose the keys that matter.
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + kMaxFileBytes, '\n'));
    Error(line, absl::StrCat("file is larger than ", kMaxFileBytes / (size_t{1024} * 1024),
                             " MiB; none of it is used (the limit is reached at this line)"));
    return {};
  }
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());

  std::string pending;  // the logical line joined so far
  bool in_line = false;
  bool discard = false;  // part of the logical line was unusable: already reported
  int start_line = 0;
  int line = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    // "\n", "\r\n" and a lone "\r" each end a line, as in systemd's read_line().
    // By hand rather than with find_first_of(), which calls memchr() for every character.
    size_t eol = pos;
    while (eol < text.size() && text[eol] != '\n' && text[eol] != '\r') ++eol;
    std::string_view raw = text.substr(pos, eol - pos);
    pos = eol;
    if (pos < text.size()) pos += text.substr(pos, 2) == "\r\n" ? 2 : 1;
    ++line;

    std::string problem = CheckPhysicalLine(raw);
    bool bad = !problem.empty();
    if (bad) Error(line, std::move(problem));
    // A comment is skipped even in the middle of a continued line, as systemd does.
    if (!bad && IsComment(raw)) continue;

    if (!in_line) {
      in_line = true;
      start_line = line;
    }
    if (!bad && !discard && pending.empty() && !EndsInContinuation(raw)) {
      // A line on its own, the usual case, is used where it stands rather than copied first.
      ParseLogicalLine(raw, start_line);
      in_line = false;
      continue;
    }
    if (bad) {
      discard = true;
    } else if (!discard) {
      if (pending.size() + raw.size() > kMaxLineBytes) {
        Error(start_line, absl::StrCat("continued line is longer than ", kMaxLineBytes / 1024,
                                       " KiB (the limit is passed at line ", line, ")"));
        discard = true;
        pending.clear();
      } else {
        pending.append(raw);
      }
    }
    if (EndsInContinuation(raw)) {
      if (!discard) pending.back() = ' ';
      continue;
    }
    if (!discard) ParseLogicalLine(pending, start_line);
    pending.clear();
    in_line = false;
    discard = false;
  }
  // systemd uses a continued last line as it stands.
  if (in_line && !discard) ParseLogicalLine(pending, start_line);
  return std::move(out_);
}

void Lexer::ParseLogicalLine(std::string_view text, int line) {
  std::string_view l = Trim(text);
  if (l.empty()) return;

  if (l.front() == '[') {
    seen_header_ = true;
    section_valid_ = false;
    if (l.back() != ']') {
      Error(line, absl::StrCat("invalid section header ", Quote(l), ": it must end with \"]\""));
      return;
    }
    std::string_view name = l.substr(1, l.size() - 2);
    if (name.empty() || !IsSafeSectionName(name)) {
      Error(line, absl::StrCat("invalid section name ", Quote(name)));
      return;
    }
    section_ = std::string(name);
    section_valid_ = true;
    out_.sections.push_back(SectionHeader{section_, Location{file_, line}});
    return;
  }

  if (!seen_header_) {
    Error(line, "assignment outside of a section: add a [Section] header above it");
    return;
  }
  if (!section_valid_) return;

  size_t eq = l.find('=');
  if (eq == std::string_view::npos) {
    Error(line, absl::StrCat("missing \"=\" in ", Quote(l), ": expected Key=Value"));
    return;
  }
  std::string_view key = Trim(l.substr(0, eq));
  if (key.empty()) {
    Error(line, "missing key name before \"=\"");
    return;
  }
  out_.assignments.push_back(Assignment{
      section_, std::string(key), std::string(Trim(l.substr(eq + 1))), Location{file_, line}});
}

}  // namespace

UnitText LexUnit(const std::string& file, std::string_view text, Diagnostics& diags) {
  diags.NoteFile(file);
  return Lexer(file, diags).Run(text);
}

}  // namespace gatekeeper::config
