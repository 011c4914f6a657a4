// Value-level syntax shared by several keys: systemd's word splitting with quotes and C escapes
// (extract_first_word() with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE) and the "%" specifiers.
#ifndef GATEKEEPER_CONFIG_WORDS_H_
#define GATEKEEPER_CONFIG_WORDS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gatekeeper::config {

// Takes the first word off `rest` and the separators after it; nullopt when only whitespace is
// left. Single and double quotes group (and may start mid-word: a"b c" is `ab c`); a backslash
// escape (\n \t \\ \" \' \s \xNN \NNN \uNNNN \UNNNNNNNN ...) is decoded inside and outside
// quotes. InvalidArgument for an unbalanced quote, an unknown escape, an escaped NUL or a
// trailing backslash; `rest` is then unspecified.
absl::StatusOr<std::optional<std::string>> ExtractFirstWord(std::string_view& rest);

// Every word of `text`.
absl::StatusOr<std::vector<std::string>> SplitWords(std::string_view text);

// The inverse of ExtractFirstWord for one word: `word` in double quotes with what needs it
// escaped. `word` must not contain a NUL byte (no escape can produce one).
std::string QuoteWord(std::string_view word);

// Expands "%n" to `name` and "%%" to "%". Any other letter or digit after "%" is an error naming
// it; "%" before anything else, or at the end, stays as it is (systemd does the same).
absl::StatusOr<std::string> ExpandSpecifiers(std::string_view text, std::string_view name);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_WORDS_H_
