#include "policy/access_list.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "policy/huge_pages.h"

namespace gatekeeper::policy {
namespace {

// This abseil may be built with its own string_view, which StrCat does not take std's for.
absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

// systemd splits these values with extract_first_word() on WHITESPACE, which is this set.
constexpr bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The high bit of every byte of `word` that equals `c`, and no other bit. No carry crosses a
// byte: the sum of a byte's low seven bits and 0x7f stays below 0x100.
constexpr uint64_t BytesEqual(uint64_t word, char c) {
  constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7f;
  const uint64_t diff = word ^ (0x0101010101010101 * static_cast<uint8_t>(c));
  return ~(((diff & kLow7) + kLow7) | diff | kLow7);
}

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

// The prefixes one token stands for: one, or two for a special word (IPv4 and IPv6). Filled
// into a fixed array, as the caller parses a million tokens in a row.
absl::Status ParsePrefixes(std::string_view token, Prefix (&out)[2], int& count) {
  if (token.empty()) return InvalidToken(token, "empty token");
  for (const SpecialWord& special : SpecialWords()) {
    if (token == special.word) {
      out[0] = special.v4;
      out[1] = special.v6;
      count = 2;
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
    if (!std::all_of(length_text->begin(), length_text->end(), IsDigit)) {
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
  out[0] = Prefix::Make(*address, static_cast<uint8_t>(length));
  count = 1;
  return absl::OkStatus();
}

// Converts to an Entry where the vector constructs it: no temporary to move from, a million
// times over.
struct EntryMaker {
  const Prefix& prefix;
  std::string_view token;
  const Origin& origin;

  operator Entry() const {  // NOLINT(google-explicit-constructor)
    return Entry{.prefix = prefix, .token = Token(token), .origin = origin};
  }
};

}  // namespace

std::string Origin::ToString() const {
  std::string where =
      source.empty() ? absl::StrCat(AbslView(file.view()), ":", line) : source.str();
  if (key.empty()) return where;
  return absl::StrCat(where, " ", AbslView(key.view()), "=");
}

absl::Status ParseToken(std::string_view token, std::vector<Prefix>& out) {
  Prefix prefixes[2];
  int count = 0;
  if (absl::Status status = ParsePrefixes(token, prefixes, count); !status.ok()) return status;
  out.insert(out.end(), prefixes, prefixes + count);
  return absl::OkStatus();
}

size_t CountTokens(std::string_view value) {
  // Eight characters at a time (a list of a million tokens is counted twice while loading), in
  // a word with the high bit of each blank byte set: a token starts at a byte that is not blank
  // and follows one that is.
  size_t count = 0;
  size_t i = 0;
  uint64_t before = 0x80;  // the character before the value counts as blank
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kHigh = 0x8080808080808080;
    for (; value.size() - i >= 8; i += 8) {
      uint64_t word;
      std::memcpy(&word, value.data() + i, sizeof(word));
      const uint64_t blank = BytesEqual(word, ' ') | BytesEqual(word, '\t') |
                             BytesEqual(word, '\n') | BytesEqual(word, '\r');
      count += std::popcount(~blank & kHigh & ((blank << 8) | before));
      before = blank >> 56;
    }
  }
  bool after_blank = before != 0;
  for (; i < value.size(); ++i) {
    const bool blank = IsWhitespace(value[i]);
    count += after_blank && !blank;
    after_blank = blank;
  }
  return count;
}

const std::vector<Entry>& AddressList::entries() const {
  static const std::vector<Entry> kNone;
  return entries_ ? *entries_ : kNone;
}

std::vector<Entry>& AddressList::Mutable() {
  if (!entries_) {
    entries_ = std::make_shared<std::vector<Entry>>();
  } else if (entries_.use_count() > 1) {
    auto own = std::make_shared<std::vector<Entry>>();
    CopyWithHugePages(*own, *entries_);
    entries_ = std::move(own);
  }
  return *entries_;
}

void AddressList::reserve(size_t n) {
  std::vector<Entry>& entries = Mutable();
  if (n <= entries.capacity()) return;
  entries.reserve(n);
  AdviseHugePages(entries);
}

absl::Status AddressList::Assign(std::string_view value, const Origin& origin) {
  std::vector<Entry>& entries = Mutable();
  // Entries go straight into the list, and a bad token cuts it back to where it was: parsing
  // into a side vector first would build every entry twice.
  const size_t before = entries.size();
  // Room is made up front: moving a large list again each time it doubles costs more than
  // counting. Every entry takes two characters of the value or more (a token and a separator;
  // a special word's two entries take four), so with room for size / 2 + 2 there is no need.
  if (entries.capacity() - before < value.size() / 2 + 2) {
    const size_t tokens = CountTokens(value);
    if (entries.capacity() - before < tokens) {
      reserve(std::max(before + tokens, 2 * entries.capacity()));
    }
  }
  Prefix prefixes[2];
  size_t pos = 0;
  // By hand rather than with find_first_of(), which calls memchr() for every character.
  while (true) {
    while (pos < value.size() && IsWhitespace(value[pos])) ++pos;
    if (pos == value.size()) break;
    const size_t start = pos;
    while (pos < value.size() && !IsWhitespace(value[pos])) ++pos;
    std::string_view token = value.substr(start, pos - start);

    int count = 0;
    if (absl::Status status = ParsePrefixes(token, prefixes, count); !status.ok()) {
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(before), entries.end());
      return status;
    }
    for (int i = 0; i < count; ++i) entries.emplace_back(EntryMaker{prefixes[i], token, origin});
  }

  if (entries.size() == before) {
    // No token at all: systemd's "IPAddressAllow=" reset.
    entries.clear();
  }
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
