// The systemd.unit(5) file syntax, independent of which sections and keys a file may have:
// sections, whole-line comments, backslash continuation, trimming. Values come out verbatim
// (no specifiers expanded, no quotes removed): that depends on the key.
#ifndef GATEKEEPER_CONFIG_UNIT_LEXER_H_
#define GATEKEEPER_CONFIG_UNIT_LEXER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostic.h"

namespace gatekeeper::config {

// Bounds that keep memory use proportional to what a sane file needs. systemd allows 1 MiB per
// (logical) line; gate files are a few hundred bytes, so ours are smaller.
inline constexpr size_t kMaxFileBytes = size_t{1} << 20;
inline constexpr size_t kMaxLineBytes = size_t{64} << 10;

struct SectionHeader {
  std::string name;  // without the brackets
  Location where;
};

struct Assignment {
  std::string section;
  std::string key;
  std::string value;  // empty for "Key=": resets the key
  Location where;     // the first physical line of a continued line
};

struct UnitText {
  std::vector<SectionHeader> sections;  // in file order; a name may repeat
  std::vector<Assignment> assignments;  // in file order
};

// Splits `text` into sections and assignments, reporting syntax errors to `diags` under `file`.
// A text over kMaxFileBytes yields one error and nothing else; a line that is too long, holds a
// NUL byte or is not UTF-8 is reported and skipped (with the rest of its continued line).
// Assignments under a malformed section header are dropped: the header's error explains them.
UnitText LexUnit(const std::string& file, std::string_view text, Diagnostics& diags);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_UNIT_LEXER_H_
