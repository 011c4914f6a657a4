#include "config/values.h"

#include <algorithm>
#include <array>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "config/text_util.h"

namespace gatekeeper::config {
namespace {

constexpr size_t kIfNameMax = 15;     // IFNAMSIZ - 1
constexpr size_t kFdNameMax = 255;    // systemd's FDNAME_MAX
constexpr size_t kPathMax = 4095;     // PATH_MAX - 1
constexpr size_t kUserNameMax = 256;  // systemd refuses longer names too

constexpr uint64_t kUsecPerSec = 1'000'000;

struct TimeUnit {
  std::string_view suffix;
  uint64_t usec;
};

// systemd's table, in its order: the first suffix that matches wins, so "ms" comes before "m".
constexpr std::array<TimeUnit, 29> kTimeUnits = {{
    {"seconds", kUsecPerSec},
    {"second", kUsecPerSec},
    {"sec", kUsecPerSec},
    {"s", kUsecPerSec},
    {"minutes", 60 * kUsecPerSec},
    {"minute", 60 * kUsecPerSec},
    {"min", 60 * kUsecPerSec},
    {"months", 2'629'800 * kUsecPerSec},
    {"month", 2'629'800 * kUsecPerSec},
    {"M", 2'629'800 * kUsecPerSec},
    {"msec", 1000},
    {"ms", 1000},
    {"m", 60 * kUsecPerSec},
    {"hours", 3600 * kUsecPerSec},
    {"hour", 3600 * kUsecPerSec},
    {"hr", 3600 * kUsecPerSec},
    {"h", 3600 * kUsecPerSec},
    {"days", 86400 * kUsecPerSec},
    {"day", 86400 * kUsecPerSec},
    {"d", 86400 * kUsecPerSec},
    {"weeks", 604800 * kUsecPerSec},
    {"week", 604800 * kUsecPerSec},
    {"w", 604800 * kUsecPerSec},
    {"years", 31'557'600 * kUsecPerSec},
    {"year", 31'557'600 * kUsecPerSec},
    {"y", 31'557'600 * kUsecPerSec},
    {"usec", 1},
    {"us", 1},
    {"\xce\xbcs", 1},  // "μs"
}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

absl::Status Invalid(std::string_view what, std::string_view text, std::string_view why = "") {
  return absl::InvalidArgumentError(absl::StrCat(Quote(text), " is not ", Av(what), Av(why)));
}

}  // namespace

absl::StatusOr<bool> ParseBoolean(std::string_view text) {
  std::string lower = absl::AsciiStrToLower(Av(text));
  for (std::string_view yes : {"1", "yes", "y", "true", "t", "on"}) {
    if (lower == yes) return true;
  }
  for (std::string_view no : {"0", "no", "n", "false", "f", "off"}) {
    if (lower == no) return false;
  }
  return Invalid("a boolean", text, " (use yes or no)");
}

absl::StatusOr<uint64_t> ParseUnsigned(std::string_view text, uint64_t max) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), IsDigit)) {
    return Invalid("an unsigned decimal number", text);
  }
  uint64_t value = 0;
  for (char c : text) {
    uint64_t digit = c - '0';
    if (digit > max || value > (max - digit) / 10) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(text), " is too large (at most ", max, ")"));
    }
    value = value * 10 + digit;
  }
  return value;
}

absl::StatusOr<absl::Duration> ParseTimeSpan(std::string_view text) {
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  auto invalid = [&text]() { return Invalid("a time span", text, " (e.g. 500ms, 5s, 1min 30s)"); };
  if (Trim(text) == "infinity") {
    return absl::InvalidArgumentError("\"infinity\" is not allowed here");
  }
  uint64_t total = 0;
  bool something = false;
  size_t i = 0;
  while (true) {
    while (i < text.size() && IsWhitespace(text[i])) ++i;
    if (i == text.size()) break;
    size_t int_start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    std::string_view integer = text.substr(int_start, i - int_start);
    std::string_view fraction;
    if (i < text.size() && text[i] == '.') {
      size_t frac_start = ++i;
      while (i < text.size() && IsDigit(text[i])) ++i;
      fraction = text.substr(frac_start, i - frac_start);
      if (fraction.empty()) return invalid();
    } else if (integer.empty()) {
      return invalid();
    }
    size_t unit_start = i;
    while (unit_start < text.size() && IsWhitespace(text[unit_start])) ++unit_start;
    uint64_t multiplier = kUsecPerSec;
    bool has_unit = false;
    for (const TimeUnit& unit : kTimeUnits) {
      if (text.substr(unit_start, unit.suffix.size()) == unit.suffix) {
        multiplier = unit.usec;
        i = unit_start + unit.suffix.size();
        has_unit = true;
        break;
      }
    }
    // Refuses "12.34.56" and "5x"; after a unit the next component may follow at once ("1min30s").
    if (!has_unit && i < text.size() && !IsWhitespace(text[i])) return invalid();

    absl::StatusOr<uint64_t> whole = ParseUnsigned(integer.empty() ? "0" : integer, kMax);
    if (!whole.ok() || *whole > (kMax - total) / multiplier) {
      return absl::InvalidArgumentError(absl::StrCat(Quote(text), " is too long a time span"));
    }
    total += *whole * multiplier;
    uint64_t scale = multiplier;
    for (char c : fraction) {
      scale /= 10;
      total += static_cast<uint64_t>(c - '0') * scale;  // at most `multiplier`: cannot overflow
      if (total > kMax) return absl::InvalidArgumentError("time span too long");
    }
    something = true;
  }
  if (!something) return invalid();
  return absl::Microseconds(static_cast<int64_t>(total));
}

absl::StatusOr<uint32_t> ParseMode(std::string_view text) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; })) {
    return Invalid("an octal file mode", text, " (e.g. 0660)");
  }
  uint32_t mode = 0;
  for (char c : text) mode = mode * 8 + (c - '0');
  if (mode > 07777) return Invalid("an octal file mode", text, " (at most 07777)");
  return mode;
}

absl::Status CheckInterfaceName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("empty interface name");
  if (name.size() > kIfNameMax) {
    return Invalid("an interface name", name, absl::StrCat(": longer than ", kIfNameMax, " bytes"));
  }
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ':' || c == '/' || c == '%') {
      return Invalid("an interface name", name,
                     absl::StrCat(": ", Quote(std::string(1, c)), " is not allowed"));
    }
  }
  if (name == "." || name == ".." || name == "all" || name == "default") {
    return Invalid("an interface name", name, ": reserved by the kernel");
  }
  if (std::all_of(name.begin(), name.end(), IsDigit)) {
    return Invalid("an interface name", name, ": an interface index is not accepted");
  }
  return absl::OkStatus();
}

absl::Status CheckFdName(std::string_view name) {
  if (name.size() > kFdNameMax) {
    return Invalid("a file descriptor name", name,
                   absl::StrCat(": longer than ", kFdNameMax, " characters"));
  }
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == ':') {
      return Invalid("a file descriptor name", name,
                     ": only printable ASCII without \":\" is allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAbsolutePath(std::string_view path) {
  if (path.empty() || path.front() != '/') return Invalid("an absolute path", path);
  if (path.size() > kPathMax) return Invalid("an absolute path", path, ": too long");
  if (std::any_of(path.begin(), path.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return Invalid("an absolute path", path, ": it contains control characters");
  }
  return absl::OkStatus();
}

absl::Status CheckUserOrGroupName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("empty user or group name");
  if (name.size() > kUserNameMax || name.front() == '-' ||
      std::any_of(name.begin(), name.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f || c == ':' || c == '/';
      })) {
    return Invalid("a valid user or group name", name);
  }
  return absl::OkStatus();
}

std::optional<uint32_t> ParseNumericId(std::string_view text) {
  absl::StatusOr<uint64_t> id = ParseUnsigned(text, std::numeric_limits<uint32_t>::max());
  if (!id.ok() || *id == 0xffffffffU || *id == 0xffffU) return std::nullopt;
  return static_cast<uint32_t>(*id);
}

}  // namespace gatekeeper::config
