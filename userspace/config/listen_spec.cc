#include "config/listen_spec.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "config/text_util.h"
#include "config/values.h"

namespace gatekeeper::config {
namespace {

// sizeof(sockaddr_un::sun_path) less the terminating NUL.
constexpr size_t kMaxUnixPath = 107;

constexpr char kExpected[] = "expected PORT, IPV4:PORT, [IPV6]:PORT or /absolute/path";

absl::Status Invalid(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid listen address ", Quote(text), ": ", Av(why)));
}

absl::StatusOr<uint16_t> ParsePort(std::string_view full, std::string_view port) {
  absl::StatusOr<uint64_t> value = ParseUnsigned(port, 65535);
  if (!value.ok())
    return Invalid(full, absl::StrCat("port ", Quote(port), " is not a number from 1 to 65535"));
  if (*value == 0) return Invalid(full, "port 0 is not allowed");
  return static_cast<uint16_t>(*value);
}

absl::StatusOr<ListenSpec> ParseUnix(std::string_view text) {
  if (absl::Status status = CheckAbsolutePath(text); !status.ok())
    return Invalid(text, std::string(status.message()));
  if (text.back() == '/') return Invalid(text, "a socket path cannot end in \"/\"");
  // Collapsed so that "/run//x" and "/run/./x" are recognised as the same socket as "/run/x".
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(Av(text), '/', absl::SkipEmpty())) {
    if (part != ".") parts.push_back(part);
  }
  ListenSpec spec;
  spec.kind = ListenSpec::Kind::kUnix;
  spec.path = absl::StrCat("/", absl::StrJoin(parts, "/"));
  if (spec.path == "/") return Invalid(text, "not a socket path");
  if (spec.path.size() > kMaxUnixPath) {
    return Invalid(text, absl::StrCat("unix socket paths are limited to ", kMaxUnixPath, " bytes"));
  }
  return spec;
}

}  // namespace

std::string ListenSpec::ToString() const {
  switch (kind) {
    case Kind::kAnyAddress:
      return absl::StrCat(port);
    case Kind::kInet:
      if (!address.has_value()) return absl::StrCat("<no address>:", port);
      if (address->family == policy::Family::kIPv6) {
        return absl::StrCat("[", address->ToString(), "]:", port);
      }
      return absl::StrCat(address->ToString(), ":", port);
    case Kind::kUnix:
      return path;
  }
  return "";
}

std::string_view ListenSpec::KeyName() const {
  return type == Type::kStream ? "ListenStream" : "ListenDatagram";
}

bool ListenSpec::operator==(const ListenSpec& other) const {
  return type == other.type && kind == other.kind && address == other.address &&
         port == other.port && path == other.path;
}

absl::StatusOr<ListenSpec> ParseListenSpec(ListenSpec::Type type, std::string_view text) {
  absl::StatusOr<ListenSpec> spec = [&]() -> absl::StatusOr<ListenSpec> {
    if (text.empty()) return Invalid(text, kExpected);
    if (text.front() == '/') return ParseUnix(text);
    if (text.front() == '@') return Invalid(text, "abstract unix sockets are not supported");

    ListenSpec out;
    if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      absl::StatusOr<uint16_t> port = ParsePort(text, text);
      if (!port.ok()) return port.status();
      out.kind = ListenSpec::Kind::kAnyAddress;
      out.port = *port;
      return out;
    }

    std::string_view address_text;
    std::string_view port_text;
    bool bracketed = text.front() == '[';
    if (bracketed) {
      size_t close = text.find("]:");
      if (close == std::string_view::npos) return Invalid(text, "expected [IPV6]:PORT");
      address_text = text.substr(1, close - 1);
      port_text = text.substr(close + 2);
    } else {
      size_t colon = text.rfind(':');
      if (colon == std::string_view::npos) return Invalid(text, kExpected);
      address_text = text.substr(0, colon);
      port_text = text.substr(colon + 1);
      if (address_text.find(':') != std::string_view::npos) {
        return Invalid(text, "an IPv6 address needs brackets: [IPV6]:PORT");
      }
    }
    if (address_text.find('%') != std::string_view::npos) {
      return Invalid(text, "zone ids are not supported; use BindToDevice=");
    }
    std::optional<policy::Address> address = policy::Address::Parse(address_text);
    policy::Family want = bracketed ? policy::Family::kIPv6 : policy::Family::kIPv4;
    if (!address.has_value() || address->family != want) {
      return Invalid(
          text, absl::StrCat(Quote(address_text), " is not a numeric ", bracketed ? "IPv6" : "IPv4",
                             " address (host names are not allowed)"));
    }
    absl::StatusOr<uint16_t> port = ParsePort(text, port_text);
    if (!port.ok()) return port.status();
    out.kind = ListenSpec::Kind::kInet;
    out.address = *address;
    out.port = *port;
    return out;
  }();
  if (spec.ok()) spec->type = type;
  return spec;
}

bool SameEndpoint(const ListenSpec& a, const ListenSpec& b) {
  if (a.kind == ListenSpec::Kind::kUnix && b.kind == ListenSpec::Kind::kUnix) {
    return a.path == b.path;
  }
  return a == b;
}

std::string EndpointKey(const ListenSpec& spec) {
  if (spec.kind == ListenSpec::Kind::kUnix) return absl::StrCat("unix ", spec.path);
  return absl::StrCat(spec.type == ListenSpec::Type::kStream ? "stream " : "datagram ",
                      static_cast<int>(spec.kind), " ",
                      spec.address ? spec.address->ToString() : std::string("-"), " ", spec.port);
}

}  // namespace gatekeeper::config
