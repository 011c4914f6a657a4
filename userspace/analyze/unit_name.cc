#include "analyze/unit_name.h"

#include <array>
#include <cstdio>

#include "absl/strings/ascii.h"

namespace gatekeeper::analyze {
namespace {

constexpr std::array<std::string_view, 11> kSuffixes = {"service", "socket",    "target", "device",
                                                        "mount",   "automount", "swap",   "timer",
                                                        "path",    "slice",     "scope"};

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-' || c == '_' ||
         c == '.' || c == '\\' || c == '@';
}

}  // namespace

std::string UnitSuffix(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return "";
  return std::string(name.substr(dot + 1));
}

bool IsValidUnitName(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || name.size() > 255) return false;
  bool known = false;
  for (std::string_view s : kSuffixes) known = known || name.substr(dot + 1) == s;
  if (!known) return false;
  for (char c : name.substr(0, dot)) {
    if (!IsNameChar(c)) return false;
  }
  const size_t at = name.find('@');
  if (at != std::string_view::npos && (at == 0 || name.find('@', at + 1) < dot)) return false;
  return true;
}

bool IsTemplate(std::string_view name) {
  const size_t at = name.find('@');
  return at != std::string_view::npos && at + 1 < name.size() && name[at + 1] == '.';
}

bool IsInstance(std::string_view name) {
  const size_t at = name.find('@');
  return at != std::string_view::npos && !IsTemplate(name);
}

std::string TemplateOf(std::string_view name) {
  const size_t at = name.find('@');
  const size_t dot = name.rfind('.');
  if (at == std::string_view::npos || dot == std::string_view::npos || dot < at) return "";
  return std::string(name.substr(0, at + 1)) + std::string(name.substr(dot));
}

std::string InstanceOf(std::string_view name) {
  const size_t at = name.find('@');
  const size_t dot = name.rfind('.');
  if (at == std::string_view::npos || dot == std::string_view::npos || dot < at) return "";
  return std::string(name.substr(at + 1, dot - at - 1));
}

std::string PrefixOf(std::string_view name) {
  const size_t at = name.find('@');
  if (at != std::string_view::npos) return std::string(name.substr(0, at));
  const size_t dot = name.rfind('.');
  return std::string(name.substr(0, dot));
}

std::string Instantiate(std::string_view template_name, std::string_view instance) {
  const size_t at = template_name.find('@');
  if (at == std::string_view::npos) return std::string(template_name);
  return std::string(template_name.substr(0, at + 1)) + std::string(instance) +
         std::string(template_name.substr(at + 1));
}

std::string EscapePath(std::string_view path) {
  // Simplify first: repeated and trailing slashes do not change the unit name.
  std::string simple;
  for (char c : path) {
    if (c == '/' && (simple.empty() || simple.back() == '/')) continue;
    simple.push_back(c);
  }
  while (!simple.empty() && simple.back() == '/') simple.pop_back();
  if (simple.empty()) return "-";
  std::string out;
  for (size_t i = 0; i < simple.size(); ++i) {
    const char c = simple[i];
    if (c == '/') {
      out.push_back('-');
    } else if ((absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' ||
                c == '.') &&
               !(i == 0 && c == '.')) {
      out.push_back(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    }
  }
  return out;
}

std::string Unescape(std::string_view s, bool path) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' &&
        absl::ascii_isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        absl::ascii_isxdigit(static_cast<unsigned char>(s[i + 3]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 2, 2)), nullptr, 16)));
      i += 3;
    } else if (path && s[i] == '-') {
      out.push_back('/');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string NetworkDeviceUnit(std::string_view iface) {
  return EscapePath(std::string("/sys/subsystem/net/devices/") + std::string(iface)) + ".device";
}

std::string ExpandSpecifiers(std::string_view value, std::string_view unit_name,
                             std::vector<std::string>* unknown) {
  if (value.find('%') == std::string_view::npos) return std::string(value);
  const std::string prefix = PrefixOf(unit_name);
  const std::string instance = InstanceOf(unit_name);
  const size_t dot = unit_name.rfind('.');
  const std::string_view without_suffix = unit_name.substr(0, dot);
  const size_t dash = prefix.rfind('-');
  const std::string last = dash == std::string::npos ? prefix : prefix.substr(dash + 1);
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%' || i + 1 == value.size()) {
      out.push_back(value[i]);
      continue;
    }
    const char spec = value[++i];
    switch (spec) {
      case '%':
        out.push_back('%');
        break;
      case 'n':
        out += std::string(unit_name);
        break;
      case 'N':
        out += std::string(without_suffix);
        break;
      case 'p':
        out += prefix;
        break;
      case 'P':
        out += Unescape(prefix, false);
        break;
      case 'i':
        out += instance;
        break;
      case 'I':
        out += Unescape(instance, false);
        break;
      case 'j':
        out += last;
        break;
      case 'J':
        out += Unescape(last, false);
        break;
      case 'f': {
        const std::string f = Unescape(instance.empty() ? prefix : instance, true);
        out += f.empty() || f[0] != '/' ? "/" + f : f;
        break;
      }
      default:
        out.push_back('%');
        out.push_back(spec);
        if (unknown != nullptr) unknown->push_back(std::string("%") + spec);
    }
  }
  return out;
}

}  // namespace gatekeeper::analyze
