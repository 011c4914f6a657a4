#include "analyze/unit_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gatekeeper::analyze {

std::string FormatWarning(const Warning& w) {
  if (w.line > 0) return absl::StrCat(w.file, ":", w.line, ": warning: ", w.message);
  return absl::StrCat(w.file, ": warning: ", w.message);
}

void ParseUnitText(std::string_view text_in, const std::string& file, std::vector<Assignment>* out,
                   std::vector<Warning>* warnings) {
  // Debian's abseil has its own string_view type.
  const absl::string_view text(text_in.data(), text_in.size());
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  std::string section;
  std::string pending;  // a line being continued with a trailing backslash
  int pending_line = 0;
  bool section_warned = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int number = static_cast<int>(i) + 1;
    absl::string_view line = absl::StripAsciiWhitespace(lines[i]);
    if (line.find('\0') != absl::string_view::npos) {
      warnings->push_back({file, number, "NUL byte in line, line ignored"});
      continue;
    }
    const bool continuing = pending_line != 0;
    // systemd skips comment lines inside a continuation too.
    if (!line.empty() && (line[0] == '#' || line[0] == ';')) continue;
    if (continuing) {
      pending += " ";
    } else {
      pending_line = number;
    }
    if (!line.empty() && line.back() == '\\') {
      pending += std::string(line.substr(0, line.size() - 1));
      if (i + 1 < lines.size()) continue;
      warnings->push_back({file, number, "file ends with a line continuation"});
    } else {
      pending += std::string(line);
    }
    std::string whole = std::move(pending);
    const int start = pending_line;
    pending.clear();
    pending_line = 0;
    absl::string_view l = absl::StripAsciiWhitespace(whole);
    if (l.empty()) continue;
    if (l[0] == '[') {
      if (l.back() != ']' || l.size() < 3) {
        warnings->push_back(
            {file, start,
             absl::StrCat("malformed section header \"", l, "\", following lines ignored")});
        section = "";
        section_warned = true;
        continue;
      }
      section = std::string(l.substr(1, l.size() - 2));
      section_warned = false;
      continue;
    }
    const size_t eq = l.find('=');
    if (eq == absl::string_view::npos) {
      warnings->push_back(
          {file, start, absl::StrCat("not an assignment, ignored: \"", l.substr(0, 60), "\"")});
      continue;
    }
    if (section.empty()) {
      if (!section_warned) {
        warnings->push_back({file, start, "assignment outside of any section, ignored"});
        section_warned = true;
      }
      continue;
    }
    std::string key(absl::StripAsciiWhitespace(l.substr(0, eq)));
    if (key.empty() || key.find_first_of(" \t") != std::string::npos) {
      warnings->push_back({file, start, absl::StrCat("invalid key \"", key, "\", ignored")});
      continue;
    }
    out->push_back({section, std::move(key),
                    std::string(absl::StripAsciiWhitespace(l.substr(eq + 1))), file, start});
  }
}

std::vector<std::string> SplitWords(std::string_view value_in) {
  const absl::string_view value(value_in.data(), value_in.size());
  std::vector<std::string> words;
  for (absl::string_view w : absl::StrSplit(value, absl::ByAnyChar(" \t\n"), absl::SkipEmpty())) {
    words.emplace_back(w);
  }
  return words;
}

bool ParseBoolean(std::string_view value, bool fallback) {
  const std::string v = absl::AsciiStrToLower(std::string(value));
  if (v == "yes" || v == "true" || v == "on" || v == "1" || v == "y" || v == "t") return true;
  if (v == "no" || v == "false" || v == "off" || v == "0" || v == "n" || v == "f") return false;
  return fallback;
}

}  // namespace gatekeeper::analyze
