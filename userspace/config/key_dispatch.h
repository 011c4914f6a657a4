// Applies the assignments of a lexed unit file to a table of known keys (internal to gk_config).
// The table decides which sections exist; everything else in the file is reported here, with a
// hint when the key exists in another section or with other capitalisation.
#ifndef GATEKEEPER_CONFIG_KEY_DISPATCH_H_
#define GATEKEEPER_CONFIG_KEY_DISPATCH_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "config/diagnostic.h"
#include "config/unit_lexer.h"

namespace gatekeeper::config {

struct KeyHandler {
  std::string_view section;
  std::string_view key;
  bool expands_specifiers = false;
  // Gets the value with specifiers expanded when `expands_specifiers`; an error becomes the
  // diagnostic "Key=: <message>" at the assignment.
  std::function<absl::Status(const Assignment&, const std::string& value)> apply;
};

// `name` is what "%n" expands to.
void ApplyUnit(const UnitText& unit, const std::vector<KeyHandler>& keys, std::string_view name,
               Diagnostics& diags);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_KEY_DISPATCH_H_
