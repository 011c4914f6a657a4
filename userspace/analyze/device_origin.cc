#include "analyze/device_origin.h"

#include <set>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "analyze/unit_name.h"

namespace gatekeeper::analyze {
namespace {

constexpr char kNetDevicePrefix[] = "sys-subsystem-net-devices-";

}  // namespace

absl::StatusOr<DeviceOrigins> DeviceOrigins::Load(
    const RootFs& fs, const std::vector<std::pair<std::string, std::string>>& created_by,
    std::vector<Warning>* warnings) {
  DeviceOrigins o;
  for (const auto& [iface, unit] : created_by) {
    if (iface.empty() || iface.size() > 15 || iface.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--device-created-by: \"", iface, "\" is not an interface name"));
    }
    if (!IsValidUnitName(unit) || IsTemplate(unit)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--device-created-by: \"", unit, "\" is not a unit name"));
    }
    Provenance p;
    p.rule = absl::StrCat("--device-created-by ", iface, "=", unit);
    o.known_[iface].push_back({unit, p});
  }
  // networkd's search path; the first file of a name wins, like unit files.
  std::set<std::string> seen;
  for (const char* dir :
       {"/etc/systemd/network", "/run/systemd/network", "/usr/local/lib/systemd/network",
        "/lib/systemd/network", "/usr/lib/systemd/network"}) {
    absl::StatusOr<std::vector<std::string>> entries = fs.ListDir(dir);
    if (!entries.ok()) {
      if (!absl::IsNotFound(entries.status())) {
        warnings->push_back({dir, 0, std::string(entries.status().message())});
      }
      continue;
    }
    for (const std::string& e : *entries) {
      if (!absl::EndsWith(e, ".netdev") || !seen.insert(e).second) continue;
      const std::string path = absl::StrCat(dir, "/", e);
      absl::StatusOr<Resolved> r = fs.Resolve(path);
      if (!r.ok()) {
        warnings->push_back({path, 0, std::string(r.status().message())});
        continue;
      }
      if (r->dev_null || !r->exists || r->size == 0) continue;
      absl::StatusOr<std::string> text = fs.ReadFile(r->path);
      if (!text.ok()) {
        warnings->push_back({path, 0, absl::StrCat("unreadable: ", text.status().message())});
        continue;
      }
      std::vector<Assignment> as;
      ParseUnitText(*text, path, &as, warnings);
      const Assignment* name = nullptr;
      for (const Assignment& a : as) {
        if (a.section == "NetDev" && a.key == "Name") name = &a;
      }
      if (name == nullptr || name->value.empty()) continue;
      Provenance p{name->file, name->line, absl::StrCat("Name=", name->value)};
      p.rule = "systemd-networkd creates the devices its .netdev files name";
      o.known_[name->value].push_back({"systemd-networkd.service", p});
    }
  }
  return o;
}

std::vector<DeviceCreator> DeviceOrigins::CreatorsOf(const std::string& iface) const {
  std::vector<DeviceCreator> out;
  if (auto it = known_.find(iface); it != known_.end()) out = it->second;
  Provenance p;
  p.rule = absl::StrCat("wg-quick@", iface, ".service creates the WireGuard interface ", iface);
  out.push_back({absl::StrCat("wg-quick@", EscapePath(iface), ".service"), p});
  return out;
}

std::string DeviceOrigins::InterfaceOfDeviceUnit(const std::string& unit) {
  if (!absl::StartsWith(unit, kNetDevicePrefix) || !absl::EndsWith(unit, ".device")) return "";
  const size_t start = sizeof(kNetDevicePrefix) - 1;
  return Unescape(unit.substr(start, unit.size() - start - 7), false);
}

}  // namespace gatekeeper::analyze
