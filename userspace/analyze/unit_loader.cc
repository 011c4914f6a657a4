#include "analyze/unit_loader.h"

#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "analyze/unit_name.h"

namespace gatekeeper::analyze {
namespace {

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Units that exist without a unit file: devices come from udev, slices and init.scope are
// synthesized by the manager.
bool CanLoadWithoutFile(const std::string& name) {
  const std::string suffix = UnitSuffix(name);
  return suffix == "device" || suffix == "slice" || name == "init.scope";
}

}  // namespace

const char* LoadStateName(LoadState s) {
  switch (s) {
    case LoadState::kLoaded:
      return "loaded";
    case LoadState::kMasked:
      return "masked";
    case LoadState::kNotFound:
      return "not-found";
    case LoadState::kError:
      return "error";
  }
  return "?";
}

std::string Unit::Last(const std::string& section, const std::string& key,
                       const std::string& fallback) const {
  for (auto it = assignments.rbegin(); it != assignments.rend(); ++it) {
    if (it->section == section && it->key == key) return it->value.empty() ? fallback : it->value;
  }
  return fallback;
}

std::vector<const Assignment*> Unit::List(const std::string& section,
                                          const std::string& key) const {
  std::vector<const Assignment*> out;
  for (const Assignment& a : assignments) {
    if (a.section != section || a.key != key) continue;
    if (a.value.empty()) {
      out.clear();
    } else {
      out.push_back(&a);
    }
  }
  return out;
}

bool Unit::DefaultDependencies() const {
  return ParseBoolean(Last("Unit", "DefaultDependencies", "yes"), true);
}

const std::vector<std::string>& UnitLoader::SearchPath() {
  static const auto* kPath =
      new std::vector<std::string>{"/etc/systemd/system.control", "/run/systemd/system.control",
                                   "/run/systemd/transient",      "/run/systemd/generator.early",
                                   "/etc/systemd/system",         "/etc/systemd/system.attached",
                                   "/run/systemd/system",         "/run/systemd/system.attached",
                                   "/run/systemd/generator",      "/usr/local/lib/systemd/system",
                                   "/lib/systemd/system",         "/usr/lib/systemd/system",
                                   "/run/systemd/generator.late"};
  return *kPath;
}

UnitLoader::UnitLoader(const RootFs& fs) : fs_(fs) {}

UnitLoader::Found UnitLoader::FindFragment(const std::string& name) {
  Found f;
  for (const std::string& dir : SearchPath()) {
    const std::string p = absl::StrCat(dir, "/", name);
    if (!fs_.Exists(p)) continue;
    absl::StatusOr<Resolved> r = fs_.Resolve(p);
    if (!r.ok()) {
      warnings_.push_back({p, 0, std::string(r.status().message())});
      f.state = LoadState::kError;
      return f;
    }
    if (r->dev_null) {
      f.state = LoadState::kMasked;
      f.path = p;
      return f;
    }
    if (!r->exists) {
      warnings_.push_back({p, 0, absl::StrCat("dangling symlink to ", r->path, ", skipped")});
      continue;
    }
    if (r->is_dir) {
      warnings_.push_back({p, 0, "is a directory, not a unit file"});
      f.state = LoadState::kError;
      return f;
    }
    if (r->size == 0) {
      f.state = LoadState::kMasked;  // systemd treats an empty unit file as masked
      f.path = r->path;
      return f;
    }
    f.state = LoadState::kLoaded;
    f.path = r->path;
    const std::string base = Basename(r->path);
    if (r->via_symlink && base != name && IsValidUnitName(base) &&
        UnitSuffix(base) == UnitSuffix(name) && base != TemplateOf(name)) {
      f.alias = IsInstance(name) && IsTemplate(base) ? Instantiate(base, InstanceOf(name)) : base;
    }
    return f;
  }
  return f;
}

void UnitLoader::ReadInto(Unit& u, const std::string& path) {
  absl::StatusOr<std::string> text = fs_.ReadFile(path);
  if (!text.ok()) {
    warnings_.push_back({path, 0, absl::StrCat("unreadable: ", text.status().message())});
    u.state = LoadState::kError;
    return;
  }
  ParseUnitText(*text, path, &u.assignments, &warnings_);
}

std::optional<std::vector<std::string>> UnitLoader::ListUnitDir(const std::string& d) {
  if (!fs_.Exists(d)) return std::nullopt;
  absl::StatusOr<Resolved> rd = fs_.Resolve(d);
  if (!rd.ok() || !rd->is_dir) {
    warnings_.push_back(
        {d, 0, rd.ok() ? "not a directory, ignored" : std::string(rd.status().message())});
    return std::nullopt;
  }
  absl::StatusOr<std::vector<std::string>> entries = fs_.ListDir(rd->path);
  if (!entries.ok()) {
    warnings_.push_back({d, 0, std::string(entries.status().message())});
    return std::nullopt;
  }
  return *std::move(entries);
}

void UnitLoader::LoadDropins(Unit& u, const std::vector<std::string>& names) {
  // Same file name in several directories: the one earlier in the search path wins; then all
  // are applied sorted by file name, whichever .d directory they came from.
  std::map<std::string, std::string> by_name;  // "" marks a masked drop-in
  for (const std::string& dir : SearchPath()) {
    for (const std::string& n : names) {
      const std::string d = absl::StrCat(dir, "/", n, ".d");
      std::optional<std::vector<std::string>> entries = ListUnitDir(d);
      if (!entries) continue;
      for (const std::string& e : *entries) {
        if (!absl::EndsWith(e, ".conf") || by_name.count(e)) continue;
        const std::string p = absl::StrCat(d, "/", e);
        absl::StatusOr<Resolved> r = fs_.Resolve(p);
        if (!r.ok()) {
          warnings_.push_back({p, 0, std::string(r.status().message())});
          continue;
        }
        by_name[e] = (r->dev_null || (r->exists && !r->is_dir && r->size == 0)) ? "" : r->path;
      }
    }
  }
  for (const auto& [file, path] : by_name) {
    if (path.empty()) continue;
    u.dropins.push_back(path);
    ReadInto(u, path);
    if (u.state == LoadState::kError) u.state = LoadState::kLoaded;  // one bad drop-in is not fatal
  }
}

void UnitLoader::LoadDirectoryDeps(Unit& u, const std::vector<std::string>& names) {
  static const std::pair<const char*, const char*> kDirs[] = {
      {".wants", "Wants"}, {".requires", "Requires"}, {".upholds", "Upholds"}};
  std::set<std::pair<std::string, std::string>> seen;
  for (const std::string& dir : SearchPath()) {
    for (const std::string& n : names) {
      for (const auto& [suffix, key] : kDirs) {
        const std::string d = absl::StrCat(dir, "/", n, suffix);
        std::optional<std::vector<std::string>> entries = ListUnitDir(d);
        if (!entries) continue;
        for (std::string e : *entries) {
          const std::string p = absl::StrCat(d, "/", e);
          if (!IsValidUnitName(e)) {
            warnings_.push_back({p, 0, "not a unit name, ignored"});
            continue;
          }
          if (IsTemplate(e)) {
            if (!IsInstance(u.name)) continue;  // a template cannot be started without instance
            e = Instantiate(e, InstanceOf(u.name));
          }
          absl::StatusOr<Resolved> r = fs_.Resolve(p);
          if (!r.ok()) {
            warnings_.push_back({p, 0, std::string(r.status().message())});
            continue;
          }
          if (r->dev_null) continue;
          if (seen.insert({key, e}).second) {
            u.directory_deps.push_back({"Unit", key, e, p, 0});
          }
        }
      }
    }
  }
}

const Unit& UnitLoader::Load(const std::string& requested) {
  if (auto it = alias_of_.find(requested); it != alias_of_.end()) return *units_[it->second];
  auto make = [&](const std::string& name) -> Unit& {
    auto& slot = units_[name];
    slot = std::make_unique<Unit>();
    slot->name = name;
    alias_of_[name] = name;
    return *slot;
  };
  if (!IsValidUnitName(requested) || IsTemplate(requested) || depth_ > 16) {
    Unit& u = make(requested);
    u.state = LoadState::kError;
    return u;
  }
  Found f = FindFragment(requested);
  if (f.state == LoadState::kNotFound && IsInstance(requested)) {
    f = FindFragment(TemplateOf(requested));
    if (!f.alias.empty()) f.alias = Instantiate(f.alias, InstanceOf(requested));
  }
  if (!f.alias.empty() && f.alias != requested) {
    ++depth_;
    const Unit& target = Load(f.alias);
    --depth_;
    alias_of_[requested] = target.name;
    units_[target.name]->aliases.push_back(requested);
    return target;
  }
  Unit& u = make(requested);
  u.state = f.state;
  if (f.state == LoadState::kLoaded) {
    u.fragment = f.path;
    ReadInto(u, f.path);
  } else if (f.state == LoadState::kNotFound && CanLoadWithoutFile(requested)) {
    u.state = LoadState::kLoaded;
  }
  if (u.state == LoadState::kMasked || u.state == LoadState::kError) return u;

  std::vector<std::string> names = {requested};
  if (IsInstance(requested)) names.push_back(TemplateOf(requested));
  const std::string suffix = UnitSuffix(requested);
  // "a-b-c.service" also reads a-b-.service.d and a-.service.d (systemd >= 246).
  const std::string stem =
      IsInstance(requested) ? PrefixOf(requested) : requested.substr(0, requested.rfind('.'));
  for (size_t dash = stem.rfind('-'); dash != std::string::npos && dash > 0;
       dash = stem.rfind('-', dash - 1)) {
    names.push_back(absl::StrCat(stem.substr(0, dash + 1), ".", suffix));
  }
  std::vector<std::string> dropin_names = names;
  dropin_names.push_back(suffix);  // service.d/ applies to every service
  const bool had_file = u.state == LoadState::kLoaded && !u.fragment.empty();
  LoadDropins(u, dropin_names);
  if (!had_file && u.state == LoadState::kNotFound && !u.dropins.empty()) {
    u.state = LoadState::kNotFound;  // drop-ins alone do not make a unit
  }
  LoadDirectoryDeps(u, {names.begin(), names.begin() + (IsInstance(requested) ? 2 : 1)});
  return u;
}

}  // namespace gatekeeper::analyze
