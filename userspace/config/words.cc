#include "config/words.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "config/text_util.h"

namespace gatekeeper::config {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
  }
}

// Reads `digits` hex digits at the start of `text`; -1 when they are not all there.
int64_t ReadHex(std::string_view text, size_t digits) {
  if (text.size() < digits) return -1;
  int64_t value = 0;
  for (size_t i = 0; i < digits; ++i) {
    int v = HexValue(text[i]);
    if (v < 0) return -1;
    value = value * 16 + v;
  }
  return value;
}

// systemd's cunescape_one(): decodes the escape whose text (after the backslash) starts `text`
// into `out` and returns how many characters it used.
absl::StatusOr<size_t> DecodeEscape(std::string_view text, std::string& out) {
  auto invalid = [&text](size_t length, std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid escape sequence ",
                     Quote(absl::StrCat("\\", Av(text.substr(0, length)))), Av(why)));
  };
  char c = text[0];
  switch (c) {
    case 'a':
      out.push_back('\a');
      return 1;
    case 'b':
      out.push_back('\b');
      return 1;
    case 'f':
      out.push_back('\f');
      return 1;
    case 'n':
      out.push_back('\n');
      return 1;
    case 'r':
      out.push_back('\r');
      return 1;
    case 't':
      out.push_back('\t');
      return 1;
    case 'v':
      out.push_back('\v');
      return 1;
    case 's':
      out.push_back(' ');
      return 1;
    case '\\':
    case '"':
    case '\'':
      out.push_back(c);
      return 1;
    case 'x': {
      int64_t v = ReadHex(text.substr(1), 2);
      if (v < 0) return invalid(3, ": \\x takes two hex digits");
      if (v == 0) return invalid(3, ": NUL bytes are not allowed");
      out.push_back(static_cast<char>(v));  // a raw byte, as in systemd
      return 3;
    }
    case 'u':
    case 'U': {
      size_t digits = c == 'u' ? 4 : 8;
      int64_t v = ReadHex(text.substr(1), digits);
      if (v < 0)
        return invalid(digits + 1,
                       absl::StrCat(": \\", std::string(1, c), " takes ", digits, " hex digits"));
      if (v == 0) return invalid(digits + 1, ": NUL bytes are not allowed");
      if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        return invalid(digits + 1, ": not a Unicode code point");
      }
      AppendUtf8(out, static_cast<uint32_t>(v));
      return digits + 1;
    }
    default:
      break;
  }
  if (c >= '0' && c <= '7') {
    if (text.size() < 3 || text[1] < '0' || text[1] > '7' || text[2] < '0' || text[2] > '7') {
      return invalid(std::min<size_t>(text.size(), 3), ": octal escapes take three digits");
    }
    int v = (c - '0') * 64 + (text[1] - '0') * 8 + (text[2] - '0');
    if (v == 0) return invalid(3, ": NUL bytes are not allowed");
    if (v > 255) return invalid(3, ": above \\377");
    out.push_back(static_cast<char>(v));
    return 3;
  }
  // The escaped character may be the first byte of a multi-byte one; show it whole.
  size_t length = 1;
  while (length < text.size() && length < 4 &&
         (static_cast<uint8_t>(text[length]) & 0xc0) == 0x80) {
    ++length;
  }
  return invalid(length, "");
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ExtractFirstWord(std::string_view& rest) {
  size_t start = rest.find_first_not_of(kWhitespace);
  if (start == std::string_view::npos) {
    rest = {};
    return std::nullopt;
  }
  std::string_view p = rest.substr(start);
  std::string word;
  char quote = 0;
  size_t i = 0;
  while (true) {
    if (i == p.size()) {
      if (quote != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("unbalanced quotes: ", std::string(1, quote), " is never closed"));
      }
      break;
    }
    char c = p[i];
    if (c == '\\') {
      if (i + 1 == p.size()) {
        return absl::InvalidArgumentError("trailing backslash: nothing to escape");
      }
      absl::StatusOr<size_t> used = DecodeEscape(p.substr(i + 1), word);
      if (!used.ok()) return used.status();
      i += 1 + *used;
      continue;
    }
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word.push_back(c);
      }
      ++i;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      ++i;
      continue;
    }
    if (IsWhitespace(c)) break;
    word.push_back(c);
    ++i;
  }
  size_t next = p.find_first_not_of(kWhitespace, i);
  rest = next == std::string_view::npos ? std::string_view() : p.substr(next);
  return word;
}

absl::StatusOr<std::vector<std::string>> SplitWords(std::string_view text) {
  std::vector<std::string> words;
  while (true) {
    absl::StatusOr<std::optional<std::string>> word = ExtractFirstWord(text);
    if (!word.ok()) return word.status();
    if (!word->has_value()) return words;
    words.push_back(std::move(**word));
  }
}

std::string QuoteWord(std::string_view word) {
  std::string out = "\"";
  for (unsigned char c : word) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\x%02x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

absl::StatusOr<std::string> ExpandSpecifiers(std::string_view text, std::string_view name) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '%' || i + 1 == text.size()) {
      out.push_back(c);
      continue;
    }
    char s = text[++i];
    if (s == 'n') {
      out.append(name);
    } else if (s == '%') {
      out.push_back('%');
    } else if (absl::ascii_isalnum(static_cast<unsigned char>(s))) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown specifier \"%", std::string(1, s),
                       "\": only %n (the gate name) and %% (a literal %) are supported"));
    } else {
      out.push_back('%');
      out.push_back(s);
    }
  }
  return out;
}

}  // namespace gatekeeper::config
