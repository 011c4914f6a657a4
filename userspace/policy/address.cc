#include "policy/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

#include "absl/strings/str_cat.h"

namespace gatekeeper::policy {
namespace {

// Longer than any valid numeric address (INET6_ADDRSTRLEN includes the NUL), so anything that
// does not fit cannot parse and is rejected without an allocation.
constexpr size_t kMaxAddressText = INET6_ADDRSTRLEN;

// Whether `a` and `b` agree in their first `bits` bits. A hand-built Prefix may carry any length,
// so it is clamped rather than trusted.
bool SameLeadingBits(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  if (bits > 128) bits = 128;
  int full_bytes = bits / 8;
  if (std::memcmp(a.data(), b.data(), full_bytes) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full_bytes] & mask) == (b[full_bytes] & mask);
}

// Dotted-quad IPv4 as inet_pton() reads it (four decimal parts of 0..255, no leading zeros, nothing
// else), without the copy to a NUL-terminated buffer and the library call: lists of a million
// prefixes are mostly these. Anything else is left to inet_pton().
std::optional<Address> ParsePlainV4(std::string_view text) {
  Address address;
  size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos == text.size() || text[pos] != '.') return std::nullopt;
      ++pos;
    }
    const size_t start = pos;
    unsigned value = 0;
    while (pos < text.size() && pos - start < 4 && text[pos] >= '0' && text[pos] <= '9') {
      value = value * 10 + static_cast<unsigned>(text[pos] - '0');
      ++pos;
    }
    const size_t digits = pos - start;
    if (digits == 0 || digits > 3 || value > 255 || (digits > 1 && text[start] == '0')) {
      return std::nullopt;
    }
    address.bytes[part] = static_cast<uint8_t>(value);
  }
  if (pos != text.size()) return std::nullopt;
  return address;
}

}  // namespace

Address Address::V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  Address address;
  address.family = Family::kIPv4;
  address.bytes[0] = a;
  address.bytes[1] = b;
  address.bytes[2] = c;
  address.bytes[3] = d;
  return address;
}

std::optional<Address> Address::Parse(std::string_view text) {
  if (std::optional<Address> v4 = ParsePlainV4(text)) return v4;
  // inet_pton needs a NUL-terminated string; an embedded NUL would silently cut the text short
  // and accept trailing garbage.
  if (text.empty() || text.size() >= kMaxAddressText || text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  char buffer[kMaxAddressText];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';

  Address address;
  if (inet_pton(AF_INET, buffer, address.bytes.data()) == 1) {
    address.family = Family::kIPv4;
    return address;
  }
  if (inet_pton(AF_INET6, buffer, address.bytes.data()) == 1) {
    address.family = Family::kIPv6;
    return address;
  }
  return std::nullopt;
}

bool Address::IsV4Mapped() const {
  if (family != Family::kIPv6) return false;
  for (int i = 0; i < 10; ++i) {
    if (bytes[i] != 0) return false;
  }
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

std::string Address::ToString() const {
  char buffer[INET6_ADDRSTRLEN];
  int af = family == Family::kIPv4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes.data(), buffer, sizeof(buffer)) == nullptr) {
    // Only possible for a corrupt family value; callers print this, so keep it readable.
    return "<invalid address>";
  }
  return buffer;
}

Address PeerAsSeenByKernel(const Address& socket_peer) {
  if (!socket_peer.IsV4Mapped()) return socket_peer;
  return Address::V4(socket_peer.bytes[12], socket_peer.bytes[13], socket_peer.bytes[14],
                     socket_peer.bytes[15]);
}

Prefix Prefix::Make(const Address& address, uint8_t length) {
  if (length > address.bit_width()) {
    throw std::invalid_argument(absl::StrCat("Prefix::Make: length ", static_cast<int>(length),
                                             " exceeds ", address.bit_width(), " for ",
                                             address.ToString()));
  }
  Prefix prefix;
  prefix.address = address;
  prefix.length = length;
  // Clearing all 128 bits past `length` also keeps the unused tail of an IPv4 address zero, so
  // that equal prefixes compare equal.
  int full_bytes = length / 8;
  int rest = length % 8;
  if (rest != 0) {
    prefix.address.bytes[full_bytes] &= static_cast<uint8_t>(0xff << (8 - rest));
    ++full_bytes;
  }
  for (size_t i = full_bytes; i < prefix.address.bytes.size(); ++i) {
    prefix.address.bytes[i] = 0;
  }
  return prefix;
}

bool Prefix::Contains(const Address& a) const {
  return a.family == address.family && SameLeadingBits(address.bytes, a.bytes, length);
}

bool Prefix::Covers(const Prefix& other) const {
  return other.address.family == address.family && length <= other.length &&
         SameLeadingBits(address.bytes, other.address.bytes, length);
}

std::string Prefix::ToString() const {
  return absl::StrCat(address.ToString(), "/", static_cast<int>(length));
}

}  // namespace gatekeeper::policy
