#include "analyze/implicit_deps.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "analyze/unit_name.h"

namespace gatekeeper::analyze {
namespace {

class Adder {
 public:
  Adder(UnitLoader& loader, const Unit& u, Graph* graph)
      : loader_(loader), u_(u), graph_(graph), dd_(u.DefaultDependencies()) {}

  bool dd() const { return dd_; }

  // `u` KIND `other`; with before=true the ordering is the other way round (Before=).
  void Add(DepKind kind, const std::string& other, const std::string& rule, bool default_dep,
           Provenance base = {}) {
    const std::string o = loader_.Load(other).name;
    base.rule = rule;
    if (default_dep) base.default_deps_of = {u_.name};
    graph_->Add({u_.name, o, kind, base});
  }
  void Before(const std::string& other, const std::string& rule, bool default_dep,
              Provenance base = {}) {
    const std::string o = loader_.Load(other).name;
    base.rule = rule;
    if (default_dep) base.default_deps_of = {u_.name};
    graph_->Add({o, u_.name, DepKind::kAfter, base});
  }
  void RequiresAfter(const std::string& other, const std::string& rule, bool default_dep) {
    Add(DepKind::kRequires, other, rule, default_dep);
    Add(DepKind::kAfter, other, rule, default_dep);
  }
  void Shutdown(const std::string& type) {
    const std::string rule = absl::StrCat(type,
                                          " units get Conflicts= and Before=shutdown.target "
                                          "unless DefaultDependencies=no");
    Add(DepKind::kConflicts, "shutdown.target", rule, true);
    Before("shutdown.target", rule, true);
  }

 private:
  UnitLoader& loader_;
  const Unit& u_;
  Graph* graph_;
  bool dd_;
};

std::string DefaultSlice(const Unit& u) {
  const std::string s = u.Last(UnitSuffix(u.name) == "socket" ? "Socket" : "Service", "Slice");
  if (!s.empty()) return s;
  if (IsInstance(u.name) && u.DefaultDependencies()) {
    return absl::StrCat("system-", EscapePath(PrefixOf(u.name)), ".slice");
  }
  return "system.slice";
}

std::string ParentSlice(const std::string& slice) {
  if (slice == "-.slice") return "";
  const std::string stem = slice.substr(0, slice.size() - 6);
  const size_t dash = stem.rfind('-');
  return dash == std::string::npos ? "-.slice" : stem.substr(0, dash) + ".slice";
}

// Mount units for every prefix of `path` that has a unit file (systemd adds Requires=/After=
// only for mount units that exist).
void AddMountsFor(UnitLoader& loader, Adder& add, const std::string& path, const std::string& why) {
  std::string prefix;
  std::vector<std::string> prefixes = {"/"};
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') prefixes.push_back(path.substr(0, i));
  }
  for (const std::string& p : prefixes) {
    const std::string m = EscapePath(p) + ".mount";
    const Unit& mu = loader.Load(m);
    if (mu.state != LoadState::kLoaded || mu.fragment.empty()) continue;
    add.RequiresAfter(m, absl::StrCat(why, " needs the mount unit for ", p), false);
  }
}

void ServiceRules(const Unit& u, Adder& add) {
  if (add.dd()) {
    const std::string r1 =
        "service units get Requires= and After=sysinit.target unless "
        "DefaultDependencies=no";
    add.RequiresAfter("sysinit.target", r1, true);
    add.Add(DepKind::kAfter, "basic.target",
            "service units get After=basic.target unless DefaultDependencies=no", true);
    add.Shutdown("service");
  }
  const std::string slice = DefaultSlice(u);
  add.RequiresAfter(slice,
                    absl::StrCat("units run in their slice (Requires= and After=", slice, ")"),
                    IsInstance(u.name) && u.Last("Service", "Slice").empty());
  for (const Assignment* a : u.List("Service", "Sockets")) {
    for (const std::string& s : SplitWords(ExpandSpecifiers(a->value, u.name, nullptr))) {
      Provenance p{a->file, a->line, absl::StrCat("Sockets=", a->value)};
      add.Add(DepKind::kWants, s, "", false, p);
      add.Add(DepKind::kAfter, s, "", false, p);
    }
  }
  if (u.Last("Service", "Type") == "dbus") {
    add.RequiresAfter("dbus.socket", "Type=dbus services get Requires= and After=dbus.socket",
                      false);
  }
}

void SocketRules(UnitLoader& loader, const Unit& u, Adder& add) {
  if (add.dd()) {
    add.Before("sockets.target",
               "socket units get Before=sockets.target unless DefaultDependencies=no", true);
    add.RequiresAfter("sysinit.target",
                      "socket units get Requires= and After=sysinit.target "
                      "unless DefaultDependencies=no",
                      true);
    add.Shutdown("socket");
  }
  add.RequiresAfter(DefaultSlice(u), "units run in their slice", false);
  const std::string service = ActivatedUnit(u);
  if (!service.empty()) {
    add.Add(DepKind::kTriggers, service, "a socket triggers its service", false);
    add.Before(service, "socket units get Before= on the service they activate", false);
  }
  for (auto it = u.assignments.rbegin(); it != u.assignments.rend(); ++it) {
    if (it->section != "Socket" || it->key != "BindToDevice") continue;
    const std::string dev = ExpandSpecifiers(it->value, u.name, nullptr);
    if (dev.empty() || dev == "*") break;
    Provenance p{it->file, it->line, absl::StrCat("BindToDevice=", it->value)};
    const std::string rule = "BindToDevice= gives BindsTo= and After= on the device unit";
    add.Add(DepKind::kBindsTo, NetworkDeviceUnit(dev), rule, false, p);
    add.Add(DepKind::kAfter, NetworkDeviceUnit(dev), rule, false, p);
    break;
  }
  for (const char* key :
       {"ListenStream", "ListenDatagram", "ListenSequentialPacket", "ListenFIFO"}) {
    for (const Assignment* a : u.List("Socket", key)) {
      if (absl::StartsWith(a->value, "/")) AddMountsFor(loader, add, a->value, "an AF_UNIX socket");
    }
  }
}

void TriggerRules(const Unit& u, Adder& add, const std::string& type, const std::string& target) {
  if (add.dd()) {
    add.RequiresAfter("sysinit.target",
                      absl::StrCat(type,
                                   " units get Requires= and "
                                   "After=sysinit.target unless "
                                   "DefaultDependencies=no"),
                      true);
    add.Before(target,
               absl::StrCat(type, " units get Before=", target, " unless DefaultDependencies=no"),
               true);
    add.Shutdown(type);
    if (type == "timer" && !u.List("Timer", "OnCalendar").empty()) {
      const std::string r = "timers with OnCalendar= get After=time-set.target time-sync.target";
      add.Add(DepKind::kAfter, "time-set.target", r, true);
      add.Add(DepKind::kAfter, "time-sync.target", r, true);
    }
  }
  const std::string unit = ActivatedUnit(u);
  if (!unit.empty()) {
    add.Add(DepKind::kTriggers, unit, absl::StrCat("a ", type, " triggers its unit"), false);
    add.Before(unit, absl::StrCat(type, " units get Before= on the unit they activate"), false);
  }
}

void MountRules(UnitLoader& loader, const Unit& u, Adder& add) {
  const std::string where = Unescape(u.name.substr(0, u.name.size() - 6), true);
  const std::string type = u.Last("Mount", "Type");
  const bool network = type == "nfs" || type == "nfs4" || type == "cifs" || type == "smb3" ||
                       type == "sshfs" || type == "ceph" || type == "glusterfs" ||
                       absl::StrContains(u.Last("Mount", "Options"), "_netdev");
  if (add.dd()) {
    const std::string r =
        "mount units get ordered into local-fs.target (remote-fs.target for "
        "network file systems) unless DefaultDependencies=no";
    add.Before(network ? "remote-fs.target" : "local-fs.target", r, true);
    add.Add(DepKind::kAfter, network ? "remote-fs-pre.target" : "local-fs-pre.target", r, true);
    if (network) add.Add(DepKind::kAfter, "network.target", r, true);
    const std::string ru = "mount units get Conflicts= and Before=umount.target";
    add.Add(DepKind::kConflicts, "umount.target", ru, true);
    add.Before("umount.target", ru, true);
  }
  const size_t slash = where.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    AddMountsFor(loader, add, where.substr(0, slash), "a mount below another mount");
  }
}

}  // namespace

std::string ActivatedUnit(const Unit& u) {
  const std::string type = UnitSuffix(u.name);
  if (type == "socket") {
    if (ParseBoolean(u.Last("Socket", "Accept", "no"), false)) return "";
    const std::string s = u.Last("Socket", "Service");
    if (!s.empty()) return s;
  } else if (type == "timer" || type == "path") {
    const std::string s = u.Last(type == "timer" ? "Timer" : "Path", "Unit");
    if (!s.empty()) return s;
  } else {
    return "";
  }
  return u.name.substr(0, u.name.size() - type.size()) + "service";
}

void AddImplicitDependencies(UnitLoader& loader, const Unit& u, Graph* graph) {
  Adder add(loader, u, graph);
  const std::string type = UnitSuffix(u.name);
  if (type == "service") {
    ServiceRules(u, add);
  } else if (type == "socket") {
    SocketRules(loader, u, add);
  } else if (type == "timer") {
    TriggerRules(u, add, "timer", "timers.target");
  } else if (type == "path") {
    TriggerRules(u, add, "path", "paths.target");
  } else if (type == "target") {
    if (add.dd() && u.name != "shutdown.target") add.Shutdown("target");
  } else if (type == "slice") {
    const std::string parent = ParentSlice(u.name);
    if (!parent.empty()) {
      add.RequiresAfter(parent, "slice units get Requires= and After= on their parent slice",
                        false);
    }
    if (add.dd()) add.Shutdown("slice");
  } else if (type == "mount") {
    MountRules(loader, u, add);
  } else if (type == "swap" && add.dd()) {
    add.Before("swap.target", "swap units get Before=swap.target", true);
  }
  for (const Assignment* a : u.List("Unit", "RequiresMountsFor")) {
    for (const std::string& p : SplitWords(ExpandSpecifiers(a->value, u.name, nullptr))) {
      AddMountsFor(loader, add, p, "RequiresMountsFor=");
    }
  }
}

void AddTargetDefaultOrdering(UnitLoader& loader, const Unit& target, Graph* graph) {
  if (!target.DefaultDependencies()) return;
  for (DepKind k : {DepKind::kRequires, DepKind::kRequisite, DepKind::kWants, DepKind::kBindsTo}) {
    // Copies: adding edges below may move the graph's storage.
    std::vector<Edge> wanted;
    for (const Edge* e : graph->Out(target.name, k)) wanted.push_back(*e);
    for (const Edge* e = wanted.data(); e != wanted.data() + wanted.size(); ++e) {
      const Unit& other = loader.Load(e->to);
      if (other.state != LoadState::kLoaded || !other.DefaultDependencies()) continue;
      // systemd skips it when the target is already ordered before the unit: no loop made here.
      if (graph->Has(other.name, target.name, DepKind::kAfter)) continue;
      Provenance p;
      p.rule = absl::StrCat("target units get After= on the units they ", DepKindName(k),
                            "= (here ", e->why.Describe(),
                            ") unless either has "
                            "DefaultDependencies=no");
      p.default_deps_of = {other.name, target.name};
      graph->Add({target.name, other.name, DepKind::kAfter, p});
    }
  }
}

}  // namespace gatekeeper::analyze
