// Small string helpers shared by the config parsers (internal to gk_config).
#ifndef GATEKEEPER_CONFIG_TEXT_UTIL_H_
#define GATEKEEPER_CONFIG_TEXT_UTIL_H_

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace gatekeeper::config {

// systemd's WHITESPACE set, used for trimming and word splitting.
inline constexpr std::string_view kWhitespace = " \t\n\r";

// Debian's abseil has its own string_view, which StrCat does not take std's for.
inline absl::string_view Av(std::string_view text) { return {text.data(), text.size()}; }

inline bool IsWhitespace(char c) { return kWhitespace.find(c) != std::string_view::npos; }

std::string_view Trim(std::string_view text);

// An environment variable name as Environment= takes it: letters, digits and "_", not starting
// with a digit.
bool IsEnvName(std::string_view name);

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

// `text` in double quotes for an error message: quotes, backslashes and non-printable bytes are
// escaped, and a long text is cut short, because values can be up to 64 KiB of anything.
std::string Quote(std::string_view text);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_TEXT_UTIL_H_
