// The systemd unit-file syntax (systemd.syntax(7)), read tolerantly: other people's units are
// input here, so anything odd becomes a warning with FILE:LINE and the rest is still used.
#ifndef GATEKEEPER_ANALYZE_UNIT_FILE_H_
#define GATEKEEPER_ANALYZE_UNIT_FILE_H_

#include <string>
#include <string_view>
#include <vector>

namespace gatekeeper::analyze {

// A message about the input, never fatal. line 0 means the whole file (or a directory entry).
struct Warning {
  std::string file;
  int line = 0;
  std::string message;
};

std::string FormatWarning(const Warning& w);

// One KEY=VALUE line (after joining continuation lines); `line` is where it started.
struct Assignment {
  std::string section;
  std::string key;
  std::string value;
  std::string file;
  int line = 0;
};

// Appends the assignments of `text` (read from `file`) in order. Empty values are kept: what an
// empty assignment means depends on the key (it resets most lists, but never dependencies).
void ParseUnitText(std::string_view text, const std::string& file, std::vector<Assignment>* out,
                   std::vector<Warning>* warnings);

// Splits a whitespace-separated list (dependency lists need no quoting in systemd).
std::vector<std::string> SplitWords(std::string_view value);

// yes/no/true/false/on/off/1/0; `fallback` for anything else.
bool ParseBoolean(std::string_view value, bool fallback);

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_UNIT_FILE_H_
