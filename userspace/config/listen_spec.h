// One ListenStream=/ListenDatagram= value: what a gate listens on.
#ifndef GATEKEEPER_CONFIG_LISTEN_SPEC_H_
#define GATEKEEPER_CONFIG_LISTEN_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/diagnostic.h"
#include "policy/address.h"

namespace gatekeeper::config {

struct ListenSpec {
  enum class Type { kStream, kDatagram };
  enum class Kind {
    kAnyAddress,  // "PORT": dual-stack [::]:PORT (IPv4 peers arrive as v4-mapped)
    kInet,        // "ADDR:PORT" (IPv4) or "[V6]:PORT"
    kUnix,        // "/absolute/path"
  };

  Type type = Type::kStream;
  Kind kind = Kind::kAnyAddress;
  std::optional<policy::Address> address;  // kInet only
  uint16_t port = 0;                       // kAnyAddress and kInet
  std::string path;                        // kUnix only, with "//" and "/./" collapsed
  Location where;                          // the assignment that added it

  // The value as it would be written: "8443", "192.0.2.1:8443", "[2001:db8::1]:8443", "/run/x".
  std::string ToString() const;
  // "ListenStream" or "ListenDatagram".
  std::string_view KeyName() const;

  // Compares what is listened on; `where` is ignored.
  bool operator==(const ListenSpec& other) const;
};

// Parses one non-empty value. Host names, "@abstract" unix sockets, IPv6 zone ids and port 0
// are refused; the error names the value and says what is expected.
absl::StatusOr<ListenSpec> ParseListenSpec(ListenSpec::Type type, std::string_view text);

// Whether two listeners cannot both exist: the same socket type, address and port, or the same
// unix path whatever the type (both would bind the same file).
bool SameEndpoint(const ListenSpec& a, const ListenSpec& b);
// A key equal for two specs exactly when SameEndpoint holds, for finding duplicates in one pass.
std::string EndpointKey(const ListenSpec& spec);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_LISTEN_SPEC_H_
