// Parsers for the scalar value types of unit files, following systemd's rules (parse_boolean(),
// parse_sec(), parse_mode(), ifname_valid(), fdname_is_valid()). Each error names the value.
#ifndef GATEKEEPER_CONFIG_VALUES_H_
#define GATEKEEPER_CONFIG_VALUES_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gatekeeper::config {

// 1/yes/y/true/t/on and 0/no/n/false/f/off, any case.
absl::StatusOr<bool> ParseBoolean(std::string_view text);

// Decimal digits only, at most `max`. (systemd would also take "0x10" and "+5"; nobody writes
// those in a unit, and "010" meaning 8 is a trap.)
absl::StatusOr<uint64_t> ParseUnsigned(std::string_view text, uint64_t max);

// A time span: "100ms", "5s", "1min 30s", "1.5h"; a bare number is seconds. Units as in
// systemd.time(7) from "us" to "y". "infinity" is refused: no key here means "never" by it.
absl::StatusOr<absl::Duration> ParseTimeSpan(std::string_view text);

// An octal file mode up to 07777, e.g. "0660" or "660".
absl::StatusOr<uint32_t> ParseMode(std::string_view text);

// A network interface name the kernel takes: 1-15 bytes, printable ASCII without space, ':',
// '/', '%'; not ".", "..", "all", "default" or all digits.
absl::Status CheckInterfaceName(std::string_view name);

// A LISTEN_FDNAMES entry: at most 255 printable ASCII characters, no ':'.
absl::Status CheckFdName(std::string_view name);

// An absolute path without control characters, at most PATH_MAX - 1 bytes.
absl::Status CheckAbsolutePath(std::string_view path);

// The syntax of a user or group name (not whether it exists): 1-256 bytes, no whitespace,
// control characters, ':' or '/', not starting with '-'.
absl::Status CheckUserOrGroupName(std::string_view name);

// A numeric uid/gid as systemd accepts it: decimal, not (uid_t)-1 or the 16-bit -1 (65535).
std::optional<uint32_t> ParseNumericId(std::string_view text);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_VALUES_H_
