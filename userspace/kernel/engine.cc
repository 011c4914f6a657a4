#include "kernel/engine.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/run_at_once.h"
#include "common/status_macros.h"
#include "gate_abi.h"
#include "kernel/bpffs.h"

namespace gatekeeper::kernel {

using common::ErrnoStatus;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options,
                                                     KernelProbe& probe) {
  GK_RETURN_IF_ERROR(CheckKernelSupport(probe));
  std::unique_ptr<Engine> engine(new Engine());
  engine->cgroup2_mount_ = *probe.Cgroup2Mount();
  engine->warn_ = options.warn ? options.warn : [](const std::string& message) {
    std::fprintf(stderr, "<4>gatekeeper: %s\n", message.c_str());
  };
  engine->bpffs_dir_ = options.bpffs_dir;
  engine->pin_dir_ = absl::StrCat(options.bpffs_dir, "/v", GK_ABI_VERSION);
  GK_RETURN_IF_ERROR(PrepareBpffsDir(engine->pin_dir_));

  const std::string events_pin = absl::StrCat(engine->pin_dir_, "/events");
  engine->events_.reset(bpf_obj_get(events_pin.c_str()));
  if (!engine->events_) {
    if (errno != ENOENT) return ErrnoStatus(errno, absl::StrCat("open BPF pin ", events_pin));
    LIBBPF_OPTS(bpf_map_create_opts, opts);
    engine->events_.reset(
        bpf_map_create(BPF_MAP_TYPE_RINGBUF, "gk_events", 0, 0, GK_RINGBUF_BYTES, &opts));
    if (!engine->events_) return ErrnoStatus(errno, "create the denial-event ring buffer");
    if (bpf_obj_pin(engine->events_.get(), events_pin.c_str()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("pin ", events_pin));
    }
  }
  return engine;
}

std::string Engine::ScopePinDir(const std::string& name) const {
  // bpffs refuses names with a dot (EPERM), and gate scopes are named "web.socket": escape every
  // byte outside [A-Za-z0-9-] as _XX, which also keeps distinct names distinct.
  std::string escaped;
  for (const unsigned char c : name) {
    if (absl::ascii_isalnum(c) || c == '-') {
      escaped.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&escaped, "_", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return absl::StrCat(pin_dir_, "/scopes/", escaped);
}

namespace {

bool ValidScopeName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name[0] != '.';
}

bool SameSpec(const ScopeSpec& a, const ScopeSpec& b) {
  return a.name == b.name && a.id == b.id && a.cgroup_path == b.cgroup_path && a.host == b.host &&
         a.gates_cgroup_path == b.gates_cgroup_path && a.bound_ifindex == b.bound_ifindex &&
         a.events.burst == b.events.burst && a.events.interval == b.events.interval &&
         a.allow_cache_min_prefixes == b.allow_cache_min_prefixes;
}

}  // namespace

absl::StatusOr<Scope> Engine::BuildScope(const ScopeSpec& spec,
                                         const policy::CompiledPolicy& policy) const {
  const std::string dir = ScopePinDir(spec.name);
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    absl::StatusOr<Scope> adopted = Scope::Adopt(spec, cgroup2_mount_, dir);
    if (adopted.ok()) {
      GK_RETURN_IF_ERROR(adopted->ReplacePolicy(policy));
      return adopted;
    }
    if (!absl::IsNotFound(adopted.status())) return adopted.status();
    // Detached or half-written pins filter nothing any more: replace them.
    GK_RETURN_IF_ERROR(RemovePinTree(dir));
  }
  return Scope::Create(spec, policy, events_.get(), cgroup2_mount_, dir);
}

void Engine::PrepareScopes(std::span<const ScopeRequest> requests) {
  std::vector<const ScopeRequest*> todo;
  std::set<std::string> names;
  for (const ScopeRequest& r : requests) {
    if (r.policy == nullptr || !ValidScopeName(r.spec.name) || scopes_.contains(r.spec.name) ||
        prepared_.contains(r.spec.name) || !names.insert(r.spec.name).second) {
      continue;
    }
    todo.push_back(&r);
  }
  std::vector<std::optional<absl::StatusOr<Scope>>> built(todo.size());
  common::RunAtOnce(todo.size(), common::kWaitingThreads, [&](size_t i) {
    built[i].emplace(BuildScope(todo[i]->spec, *todo[i]->policy));
  });
  for (size_t i = 0; i < todo.size(); ++i) {
    prepared_.insert_or_assign(
        todo[i]->spec.name,
        Prepared{.spec = todo[i]->spec, .policy = todo[i]->policy, .scope = *std::move(built[i])});
  }
}

absl::StatusOr<Scope*> Engine::AttachScope(const ScopeSpec& spec,
                                           const policy::CompiledPolicy& policy) {
  if (!ValidScopeName(spec.name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid scope name \"", spec.name, "\""));
  }
  if (scopes_.contains(spec.name)) {
    return absl::AlreadyExistsError(absl::StrCat("scope ", spec.name, " is already attached"));
  }
  std::optional<absl::StatusOr<Scope>> scope;
  if (auto it = prepared_.find(spec.name); it != prepared_.end()) {
    Prepared prepared = std::move(it->second);
    prepared_.erase(it);
    // Prepared for another spec or policy: its pins, if any, are adopted below like a previous
    // daemon's and the policy asked for now is swapped in.
    if (prepared.policy.get() == &policy && SameSpec(prepared.spec, spec)) {
      scope = std::move(prepared.scope);
    }
  }
  if (!scope) scope = BuildScope(spec, policy);
  if (!scope->ok()) return scope->status();
  Scope* attached = &scopes_.insert_or_assign(spec.name, **std::move(scope)).first->second;
  WarnAboutForeignPrograms(*attached);
  return attached;
}

void Engine::WarnAboutForeignPrograms(const Scope& scope) const {
  absl::StatusOr<std::vector<AttachedProgram>> foreign = ForeignPrograms(scope);
  if (!foreign.ok()) {
    warn_(absl::StrCat(
        "scope ", scope.name(),
        ": cannot list the BPF programs on its cgroup path: ", foreign.status().message()));
    return;
  }
  for (const AttachedProgram& p : *foreign) {
    // systemd's own IP firewall on gatekeeper.service: the shipped unit's IPAddressAllow=any makes
    // it pass everything. `status` still lists it.
    if (p.name == "sd_fw_ingress" || p.name == "sd_fw_egress") continue;
    warn_(absl::StrCat("scope ", scope.name(), ": foreign BPF program ", p.name, " (id ", p.id,
                       ", ", p.direction == Direction::kIngress ? "ingress" : "egress",
                       ") also filters cgroup ", scope.spec().cgroup_path,
                       "; it can drop traffic this scope allows"));
  }
}

absl::StatusOr<std::vector<uint32_t>> Engine::OwnProgramIds() const {
  std::vector<uint32_t> own;
  for (const auto& [name, s] : scopes_) {
    const std::vector<uint32_t> ids = s.ProgramIds();
    own.insert(own.end(), ids.begin(), ids.end());
  }
  return own;
}

absl::StatusOr<std::vector<AttachedProgram>> Engine::ForeignPrograms(const Scope& scope) const {
  GK_ASSIGN_OR_RETURN(std::vector<uint32_t> own, OwnProgramIds());
  return ForeignPrograms(scope, own);
}

absl::StatusOr<std::vector<AttachedProgram>> Engine::ForeignPrograms(
    const Scope& scope, const std::vector<uint32_t>& own) const {
  GK_ASSIGN_OR_RETURN(std::vector<AttachedProgram> all,
                      EffectivePrograms(scope.spec().cgroup_path));
  return kernel::ForeignPrograms(all, own);
}

Scope* Engine::FindScope(const std::string& name) {
  auto it = scopes_.find(name);
  return it == scopes_.end() ? nullptr : &it->second;
}

absl::Status Engine::RemoveScope(const std::string& name) {
  auto it = scopes_.find(name);
  if (it == scopes_.end()) return absl::NotFoundError(absl::StrCat("no scope ", name));
  GK_RETURN_IF_ERROR(it->second.Remove());
  scopes_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Engine::RepairPins() const {
  std::vector<std::string> repaired;
  for (const auto& [name, scope] : scopes_) {
    GK_ASSIGN_OR_RETURN(std::vector<std::string> paths, scope.RepairPins());
    repaired.insert(repaired.end(), paths.begin(), paths.end());
  }
  return repaired;
}

absl::StatusOr<std::vector<std::string>> Engine::RemoveUnclaimedScopes() {
  std::set<std::string> claimed;
  for (const auto& [name, scope] : scopes_) claimed.insert(ScopePinDir(name));
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(pin_dir_ + "/scopes", ec)) {
    const std::string dir = entry.path().string();
    if (claimed.contains(dir)) continue;
    GK_RETURN_IF_ERROR(RemovePinTree(dir));
    removed.push_back(entry.path().filename().string());
  }
  return removed;
}

absl::Status Engine::RemoveAll() {
  while (!scopes_.empty()) GK_RETURN_IF_ERROR(RemoveScope(scopes_.begin()->first));
  events_.reset();
  GK_RETURN_IF_ERROR(RemovePinTree(pin_dir_));
  // The parent is ours too when nothing else lives in it (other ABI versions might).
  std::error_code ec;
  if (std::filesystem::is_empty(bpffs_dir_, ec)) std::filesystem::remove(bpffs_dir_, ec);
  return absl::OkStatus();
}

}  // namespace gatekeeper::kernel
