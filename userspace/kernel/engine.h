// The kernel side of one gatekeeper instance: its pin directory, the shared denial-event ring
// buffer and its scopes.
#ifndef GATEKEEPER_KERNEL_ENGINE_H_
#define GATEKEEPER_KERNEL_ENGINE_H_

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "kernel/cgroup_programs.h"
#include "kernel/kernel_support.h"
#include "kernel/scope.h"
#include "policy/compiler.h"

namespace gatekeeper::kernel {

struct EngineOptions {
  // Pins go to <bpffs_dir>/v<GK_ABI_VERSION>/. Tests and parallel instances pass unique ones.
  std::string bpffs_dir = "/sys/fs/bpf/gatekeeper";
  // Receives warnings (foreign programs on a scope's cgroup path); default: stderr with the
  // journald warning prefix.
  std::function<void(const std::string&)> warn;
};

class Engine {
 public:
  // Checks kernel support first: a missing feature is an error, never a silent fail-open.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const EngineOptions& options,
                                                      KernelProbe& probe);

  // Attaches a scope with `policy`. When a previous daemon left this scope's pins and its links
  // are still attached to the spec's cgroup, they are adopted and the policy is swapped in, so
  // the filter never lapses. Pins whose links were detached are stale and are replaced. Links
  // still attached to another cgroup (the directory was re-created) are an error: sockets of the
  // old cgroup may still depend on them.
  absl::StatusOr<Scope*> AttachScope(const ScopeSpec& spec, const policy::CompiledPolicy& policy);

  struct ScopeRequest {
    ScopeSpec spec;
    policy::SharedPolicy policy;
  };
  // Builds the scopes of `requests` at once, as AttachScope would (created, or adopted with the
  // policy swapped in), for AttachScope to take when it is later called with the same spec and
  // the same policy object. Why: a scope's policy goes in through map-in-map writes, and the
  // kernel ends each with an RCU grace period (10-20 ms here), so scopes built one after the
  // other made the start of 100 gates wait 4 s. A build's error is kept and returned by that
  // AttachScope call, where it would have come without preparing. Requests for names that are
  // attached, invalid or requested twice are left to AttachScope.
  void PrepareScopes(std::span<const ScopeRequest> requests);
  Scope* FindScope(const std::string& name);
  // Programs that act on the scope's sockets and belong to none of this engine's scopes: they can
  // drop its traffic whatever its lists say (e.g. systemd's own IPAddressDeny= on a slice).
  absl::StatusOr<std::vector<AttachedProgram>> ForeignPrograms(const Scope& scope) const;
  // The same against `own`, the ids OwnProgramIds() gave: a caller asking about every scope
  // reads each scope's links once, not once per scope asked about.
  absl::StatusOr<std::vector<AttachedProgram>> ForeignPrograms(
      const Scope& scope, const std::vector<uint32_t>& own) const;
  // The program ids of every scope of this engine.
  absl::StatusOr<std::vector<uint32_t>> OwnProgramIds() const;
  // Detaches and unpins a scope (see Scope::Remove for when that is safe).
  absl::Status RemoveScope(const std::string& name);
  // Scope::RepairPins for every scope; the pin paths it re-created.
  absl::StatusOr<std::vector<std::string>> RepairPins() const;
  // Unpins the scopes a previous daemon left that this engine has not attached (their gates are
  // no longer configured), releasing their links; returns their names. The caller makes sure
  // first that no socket can live in their cgroups any more.
  absl::StatusOr<std::vector<std::string>> RemoveUnclaimedScopes();
  // Removes every scope and the whole pin directory: uninstall, and test clean-up.
  absl::Status RemoveAll();

  const std::string& cgroup2_mount() const { return cgroup2_mount_; }
  const std::string& pin_dir() const { return pin_dir_; }
  int events_fd() const { return events_.get(); }

  // Destroying the engine keeps pins and links in place (fail closed for a crashed or stopped
  // daemon); only RemoveScope/RemoveAll take filters away.
  ~Engine() = default;

 private:
  Engine() = default;
  std::string ScopePinDir(const std::string& name) const;
  // AttachScope's work short of registering the scope; touches nothing of the engine's, so
  // PrepareScopes runs it from several threads.
  absl::StatusOr<Scope> BuildScope(const ScopeSpec& spec,
                                   const policy::CompiledPolicy& policy) const;
  void WarnAboutForeignPrograms(const Scope& scope) const;

  std::function<void(const std::string&)> warn_;
  std::string bpffs_dir_;
  std::string pin_dir_;
  std::string cgroup2_mount_;
  common::UniqueFd events_;
  std::map<std::string, Scope> scopes_;
  struct Prepared {
    ScopeSpec spec;
    policy::SharedPolicy policy;
    absl::StatusOr<Scope> scope;
  };
  std::map<std::string, Prepared> prepared_;  // by scope name, until AttachScope takes it
};

}  // namespace gatekeeper::kernel

#endif  // GATEKEEPER_KERNEL_ENGINE_H_
