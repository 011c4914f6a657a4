#include "config/text_util.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_format.h"

namespace gatekeeper::config {
namespace {

constexpr size_t kMaxQuoted = 80;

}  // namespace

std::string_view Trim(std::string_view text) {
  size_t start = text.find_first_not_of(kWhitespace);
  if (start == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(kWhitespace);
  return text.substr(start, end - start + 1);
}

bool IsEnvName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    // Config text is nearly all ASCII: eight bytes at a time while no byte has its high bit set.
    while (text.size() - i >= 8) {
      uint64_t word;
      std::memcpy(&word, text.data() + i, sizeof(word));
      if ((word & 0x8080808080808080u) != 0) break;
      i += 8;
    }
    if (i == text.size()) break;
    auto byte = [&text](size_t k) { return static_cast<uint8_t>(text[k]); };
    uint8_t lead = byte(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    int extra = 0;
    uint32_t code = 0;
    uint32_t min = 0;
    if ((lead & 0xe0) == 0xc0) {
      extra = 1;
      code = lead & 0x1f;
      min = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      extra = 2;
      code = lead & 0x0f;
      min = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      extra = 3;
      code = lead & 0x07;
      min = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      uint8_t next = byte(i + k);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

std::string Quote(std::string_view text) {
  // Bytes >= 0x80 stay when they form UTF-8, so that names in other scripts stay readable; an
  // unescaped "\xff" in a value is shown escaped.
  bool escape_high = !IsValidUtf8(text);
  std::string out = "\"";
  size_t shown = 0;
  for (unsigned char c : text) {
    bool continuation = !escape_high && (c & 0xc0) == 0x80;
    if (!continuation && shown++ == kMaxQuoted) {
      out += "...";
      break;
    }
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f || (escape_high && c >= 0x80)) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace gatekeeper::config
