// IP addresses and prefixes as the access lists and the kernel tries see them.
#ifndef GATEKEEPER_POLICY_ADDRESS_H_
#define GATEKEEPER_POLICY_ADDRESS_H_

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatekeeper::policy {

enum class Family : uint8_t { kIPv4 = 4, kIPv6 = 6 };

struct Address {
  Family family = Family::kIPv4;
  // Network byte order. IPv4 uses the first 4 bytes; the rest stay zero.
  std::array<uint8_t, 16> bytes{};

  static Address V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  // Numeric IPv4 or IPv6 text (inet_pton rules); nullopt for anything else.
  static std::optional<Address> Parse(std::string_view text);

  int bit_width() const { return family == Family::kIPv4 ? 32 : 128; }
  bool IsV4Mapped() const;
  std::string ToString() const;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads the defaulted comparison
  auto operator<=>(const Address&) const = default;
};

// The address family the kernel sees for a peer as reported by a socket: a dual-stack ([::])
// listener reports IPv4 peers as ::ffff:a.b.c.d, but their packets are IPv4 and are matched
// against the IPv4 lists.
Address PeerAsSeenByKernel(const Address& socket_peer);

struct Prefix {
  Address address;  // host bits always zero
  uint8_t length = 0;

  // Clears the host bits. `length` must not exceed the family's width.
  static Prefix Make(const Address& address, uint8_t length);

  bool Contains(const Address& a) const;
  // True when every address of `other` is inside this prefix (same family, shorter or equal).
  bool Covers(const Prefix& other) const;
  std::string ToString() const;  // "192.0.2.0/24", "2001:db8::/32", hosts with their full length

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads the defaulted comparison
  auto operator<=>(const Prefix&) const = default;
};

}  // namespace gatekeeper::policy

#endif  // GATEKEEPER_POLICY_ADDRESS_H_
