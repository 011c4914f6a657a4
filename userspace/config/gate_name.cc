#include "config/gate_name.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "config/text_util.h"

namespace gatekeeper::config {

absl::Status CheckGateName(std::string_view name) {
  bool chars_ok = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '@' || c == '-';
  });
  if (name.empty() || name.size() > kMaxGateName || !chars_ok || name.front() == '.' ||
      name.front() == '-') {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid gate name ", Quote(name),
        ": a gate name (the file name without \".gate\") has 1 to ", kMaxGateName,
        " letters, digits, '_', '.', '@' or '-', and starts with neither '.' nor '-'"));
  }
  return absl::OkStatus();
}

}  // namespace gatekeeper::config
