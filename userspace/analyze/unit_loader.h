// Finds and reads units the way the system manager does: search path, aliases, templates,
// drop-ins, .wants/.requires/.upholds directories, masking. Everything lives under a RootFs.
#ifndef GATEKEEPER_ANALYZE_UNIT_LOADER_H_
#define GATEKEEPER_ANALYZE_UNIT_LOADER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analyze/root_fs.h"
#include "analyze/unit_file.h"

namespace gatekeeper::analyze {

enum class LoadState { kLoaded, kMasked, kNotFound, kError };
const char* LoadStateName(LoadState s);

struct Unit {
  std::string name;                  // canonical: the name the unit file has
  std::vector<std::string> aliases;  // other names that resolved to it
  LoadState state = LoadState::kNotFound;
  std::string fragment;              // in-root path of the unit file; "" for units without one
  std::vector<std::string> dropins;  // in the order applied
  // Fragment first, then drop-ins; values not yet specifier-expanded.
  std::vector<Assignment> assignments;
  // Wants=/Requires=/Upholds= that .wants/.requires/.upholds directories express; `file` is the
  // directory entry, line 0.
  std::vector<Assignment> directory_deps;

  // Last value of KEY in SECTION (as systemd applies assignments in order), or `fallback`.
  std::string Last(const std::string& section, const std::string& key,
                   const std::string& fallback = "") const;
  // All assignments of KEY in SECTION; an empty one clears what came before (for list keys).
  std::vector<const Assignment*> List(const std::string& section, const std::string& key) const;
  bool DefaultDependencies() const;
};

class UnitLoader {
 public:
  explicit UnitLoader(const RootFs& fs);

  // The unit system manager would load for `name` (following aliases). Never fails: problems
  // are warnings and a state other than kLoaded.
  const Unit& Load(const std::string& name);

  // The unit directories of the system manager in priority order (first wins for a name).
  static const std::vector<std::string>& SearchPath();

  const RootFs& fs() const { return fs_; }
  std::vector<Warning>& warnings() { return warnings_; }
  size_t loaded_count() const { return units_.size(); }

 private:
  struct Found {
    std::string path;   // in-root path of the resolved unit file
    std::string alias;  // the file has another unit name: `name` is an alias of it
    LoadState state = LoadState::kNotFound;
  };
  Found FindFragment(const std::string& name);
  void ReadInto(Unit& u, const std::string& path);
  // The entries of a .d/.wants/… directory `d` (in-root path); nullopt when it is absent, or not
  // a readable directory (then with a warning).
  std::optional<std::vector<std::string>> ListUnitDir(const std::string& d);
  void LoadDropins(Unit& u, const std::vector<std::string>& names);
  void LoadDirectoryDeps(Unit& u, const std::vector<std::string>& names);

  const RootFs& fs_;
  std::map<std::string, std::unique_ptr<Unit>> units_;  // canonical name -> unit
  std::map<std::string, std::string> alias_of_;         // any requested name -> canonical
  std::vector<Warning> warnings_;
  int depth_ = 0;
};

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_UNIT_LOADER_H_
