#include "policy/access_list.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gatekeeper::policy {
namespace {

// This abseil may be built with its own string_view, which StrCat does not take std's for.
absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

// systemd splits these values with extract_first_word() on WHITESPACE, which is this set.
constexpr std::string_view kWhitespace = " \t\n\r";

struct SpecialWord {
  std::string_view word;
  Prefix v4;
  Prefix v6;
};

Address V6(std::initializer_list<uint8_t> leading) {
  Address address;
  address.family = Family::kIPv6;
  std::copy(leading.begin(), leading.end(), address.bytes.begin());
  return address;
}

const std::array<SpecialWord, 4>& SpecialWords() {
  static const std::array<SpecialWord, 4> kWords = {{
      {"any", Prefix::Make(Address::V4(0, 0, 0, 0), 0), Prefix::Make(V6({}), 0)},
      {"localhost", Prefix::Make(Address::V4(127, 0, 0, 0), 8),
       Prefix::Make(V6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), 128)},
      {"link-local", Prefix::Make(Address::V4(169, 254, 0, 0), 16),
       Prefix::Make(V6({0xfe, 0x80}), 64)},
      {"multicast", Prefix::Make(Address::V4(224, 0, 0, 0), 4), Prefix::Make(V6({0xff}), 8)},
  }};
  return kWords;
}

// The token goes into logs and error messages verbatim except for bytes that would garble them.
std::string Quote(std::string_view token) {
  std::string out = "\"";
  for (unsigned char c : token) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

absl::Status InvalidToken(std::string_view token, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid address prefix ", Quote(token), ": ", AbslView(why)));
}

// Explains why `text` (the part before any "/") is not an address, as precisely as cheaply
// possible: a user who wrote "192.0.2.300" made a typo, one who wrote "example.com" misunderstood
// what the setting takes.
std::string WhyNotAnAddress(std::string_view text) {
  if (text.find('%') != std::string_view::npos) {
    return "zone ids (\"%...\") are not allowed";
  }
  for (const SpecialWord& special : SpecialWords()) {
    if (text == special.word) {
      return absl::StrCat("\"", AbslView(special.word), "\" takes no prefix length");
    }
  }
  if (text.find(':') != std::string_view::npos) return "not a valid IPv6 address";
  if (text.find_first_not_of("0123456789.") == std::string_view::npos) {
    return "not a valid IPv4 address";
  }
  return "not a numeric IP address (host names are not allowed)";
}

}  // namespace

std::string Origin::ToString() const {
  std::string where = source.empty() ? absl::StrCat(file, ":", line) : source;
  if (key.empty()) return where;
  return absl::StrCat(where, " ", key, "=");
}

absl::Status ParseToken(std::string_view token, std::vector<Prefix>& out) {
  if (token.empty()) return InvalidToken(token, "empty token");
  for (const SpecialWord& special : SpecialWords()) {
    if (token == special.word) {
      out.push_back(special.v4);
      out.push_back(special.v6);
      return absl::OkStatus();
    }
  }

  std::string_view address_text = token;
  std::optional<std::string_view> length_text;
  if (size_t slash = token.find('/'); slash != std::string_view::npos) {
    address_text = token.substr(0, slash);
    length_text = token.substr(slash + 1);
  }
  if (address_text.empty()) return InvalidToken(token, "missing address before \"/\"");

  std::optional<Address> address = Address::Parse(address_text);
  if (!address.has_value()) return InvalidToken(token, WhyNotAnAddress(address_text));

  int width = address->bit_width();
  int length = width;
  if (length_text.has_value()) {
    if (length_text->empty()) return InvalidToken(token, "empty prefix length");
    // Digits only: strtoul-style parsing would also take signs, blanks and "0x".
    if (length_text->find_first_not_of("0123456789") != std::string_view::npos) {
      return InvalidToken(
          token, absl::StrCat("prefix length ", Quote(*length_text), " is not a decimal number"));
    }
    length = 0;
    for (char c : *length_text) {
      length = length * 10 + (c - '0');
      if (length > width) break;  // also keeps a long digit string from overflowing
    }
    if (length > width) {
      return InvalidToken(
          token, absl::StrCat("prefix length ", AbslView(*length_text), " exceeds ", width, " for ",
                              address->family == Family::kIPv4 ? "IPv4" : "IPv6"));
    }
  }
  out.push_back(Prefix::Make(*address, static_cast<uint8_t>(length)));
  return absl::OkStatus();
}

absl::Status AddressList::Assign(std::string_view value, const Origin& origin) {
  // Parsed into a side vector so that a bad token anywhere leaves the list as it was.
  std::vector<Entry> added;
  std::vector<Prefix> prefixes;
  size_t pos = 0;
  while (true) {
    size_t start = value.find_first_not_of(kWhitespace, pos);
    if (start == std::string_view::npos) break;
    size_t end = value.find_first_of(kWhitespace, start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view token = value.substr(start, end - start);
    pos = end;

    prefixes.clear();
    if (absl::Status status = ParseToken(token, prefixes); !status.ok()) return status;
    for (const Prefix& prefix : prefixes) {
      added.push_back(Entry{.prefix = prefix, .token = std::string(token), .origin = origin});
    }
  }

  if (added.empty()) {
    // No token at all: systemd's "IPAddressAllow=" reset.
    entries_.clear();
    return absl::OkStatus();
  }
  entries_.insert(entries_.end(), std::make_move_iterator(added.begin()),
                  std::make_move_iterator(added.end()));
  return absl::OkStatus();
}

std::vector<Entry> Reduce(const std::vector<Entry>& entries) {
  std::vector<size_t> order(entries.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Index as tie-breaker puts the first assigned of equal prefixes first, which the sweep keeps.
  std::sort(order.begin(), order.end(), [&entries](size_t a, size_t b) {
    if (auto c = entries[a].prefix <=> entries[b].prefix; c != 0) return c < 0;
    return a < b;
  });

  // In this order every prefix comes after all prefixes covering it, and the kept prefixes are
  // pairwise disjoint, so the only kept prefix that can cover the next one is the last kept.
  std::vector<Entry> kept;
  for (size_t index : order) {
    const Entry& entry = entries[index];
    if (!kept.empty() && kept.back().prefix.Covers(entry.prefix)) continue;
    kept.push_back(entry);
  }
  return kept;
}

}  // namespace gatekeeper::policy
