#include "config/key_dispatch.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "config/text_util.h"
#include "config/words.h"

namespace gatekeeper::config {
namespace {

constexpr std::string_view kExtensionPrefix = "X-";

bool KnownSection(const std::vector<KeyHandler>& keys, std::string_view section) {
  return std::any_of(keys.begin(), keys.end(),
                     [section](const KeyHandler& k) { return k.section == section; });
}

std::string SectionHint(const std::vector<KeyHandler>& keys, std::string_view section) {
  for (const KeyHandler& k : keys) {
    if (absl::EqualsIgnoreCase(Av(k.section), Av(section))) {
      return absl::StrCat(" (did you mean [", Av(k.section), "]?)");
    }
  }
  std::vector<std::string_view> names;
  for (const KeyHandler& k : keys) {
    if (std::find(names.begin(), names.end(), k.section) == names.end()) names.push_back(k.section);
  }
  std::string out = " (known sections:";
  for (std::string_view n : names) absl::StrAppend(&out, " [", Av(n), "]");
  return out + ")";
}

std::string KeyHint(const std::vector<KeyHandler>& keys, const Assignment& a) {
  for (const KeyHandler& k : keys) {
    if (k.key == a.key) return absl::StrCat(": it belongs in [", Av(k.section), "]");
  }
  for (const KeyHandler& k : keys) {
    if (k.section == a.section && absl::EqualsIgnoreCase(Av(k.key), a.key)) {
      return absl::StrCat(" (did you mean ", Av(k.key), "=?)");
    }
  }
  return "";
}

}  // namespace

void ApplyUnit(const UnitText& unit, const std::vector<KeyHandler>& keys, std::string_view name,
               Diagnostics& diags) {
  for (const SectionHeader& header : unit.sections) {
    if (KnownSection(keys, header.name)) continue;
    if (absl::StartsWith(header.name, Av(kExtensionPrefix))) {
      diags.Warning(header.where, absl::StrCat("ignoring extension section [", header.name, "]"));
    } else {
      diags.Error(header.where, absl::StrCat("unknown section [", header.name, "]",
                                             SectionHint(keys, header.name)));
    }
  }

  for (const Assignment& a : unit.assignments) {
    if (!KnownSection(keys, a.section)) continue;  // reported once, at its header
    auto handler = std::find_if(keys.begin(), keys.end(), [&a](const KeyHandler& k) {
      return k.section == a.section && k.key == a.key;
    });
    if (handler == keys.end()) {
      if (absl::StartsWith(a.key, Av(kExtensionPrefix))) {
        diags.Warning(a.where, absl::StrCat("ignoring extension key ", Quote(a.key + "=")));
      } else {
        diags.Error(a.where, absl::StrCat("unknown key ", Quote(a.key + "="), " in [", a.section,
                                          "]", KeyHint(keys, a)));
      }
      continue;
    }
    // Values can be 64 KiB (a long address list): copied only when expanding changes them.
    const std::string* value = &a.value;
    absl::StatusOr<std::string> expanded;
    if (handler->expands_specifiers) {
      expanded = ExpandSpecifiers(a.value, name);
      if (!expanded.ok()) {
        diags.Error(a.where, absl::StrCat(a.key, "=: ", expanded.status().message()));
        continue;
      }
      value = &*expanded;
    }
    if (absl::Status status = handler->apply(a, *value); !status.ok()) {
      diags.Error(a.where, absl::StrCat(a.key, "=: ", status.message()));
    }
  }
}

}  // namespace gatekeeper::config
