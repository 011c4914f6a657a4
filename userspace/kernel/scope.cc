#include "kernel/scope.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "gate_abi.h"
#include "kernel/bpffs.h"
#include "kernel/cgroup.h"
#include "kernel/gate_skeleton.h"
#include "kernel/policy_tries.h"
#include "kernel/slot_writes.h"

namespace gatekeeper::kernel {
namespace {

using common::ErrnoStatus;
using common::UniqueFd;

constexpr const char* kIngressPin = "ingress";
constexpr const char* kEgressPin = "egress";
constexpr const char* kPolicyV4Pin = "policy_v4";
constexpr const char* kPolicyV6Pin = "policy_v6";
constexpr const char* kAllowCacheV4Pin = "allow_cache_v4";
constexpr const char* kAllowCacheV6Pin = "allow_cache_v6";
constexpr const char* kConfigPin = "config";
constexpr const char* kStatsPin = "stats";

absl::StatusOr<UniqueFd> Dup(int fd, absl::string_view what) {
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!copy) return ErrnoStatus(errno, absl::StrCat("dup ", what));
  return copy;
}

std::string PinPath(const std::string& dir, const char* name) {
  return absl::StrCat(dir, "/", name);
}

absl::StatusOr<UniqueFd> OpenPin(const std::string& dir, const char* name) {
  const std::string path = PinPath(dir, name);
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open BPF pin ", path));
  return fd;
}

absl::StatusOr<bpf_link_info> LinkInfo(int link_fd) {
  bpf_link_info info{};
  __u32 len = sizeof(info);
  // libbpf 1.1 has no bpf_link_get_info_by_fd; the generic call fills the same struct.
  if (bpf_obj_get_info_by_fd(link_fd, &info, &len) != 0) {
    return ErrnoStatus(errno, "read BPF link info");
  }
  return info;
}

absl::Status CheckAttached(int link_fd, const Cgroup& cgroup, bpf_attach_type type,
                           const std::string& pin) {
  GK_ASSIGN_OR_RETURN(bpf_link_info info, LinkInfo(link_fd));
  if (info.type != BPF_LINK_TYPE_CGROUP || info.cgroup.attach_type != type) {
    return absl::FailedPreconditionError(
        absl::StrCat("BPF pin ", pin, " is not a cgroup link of the expected kind"));
  }
  // NotFound: the link filters nothing any more, its pins may go. FailedPrecondition: it still
  // filters a cgroup that was removed and re-created, whose sockets may depend on it.
  if (info.cgroup.cgroup_id == 0) {
    return absl::NotFoundError(absl::StrCat("BPF link ", pin, " is detached"));
  }
  if (info.cgroup.cgroup_id != cgroup.id()) {
    return absl::FailedPreconditionError(
        absl::StrCat("BPF link ", pin, " is still attached to an earlier cgroup at ", cgroup.path(),
                     " (cgroup id ", info.cgroup.cgroup_id, ", now ", cgroup.id(), ")"));
  }
  return absl::OkStatus();
}

// A number never issued before on this boot, whichever daemon issued it: the programs and their
// caches outlive a daemon. CLOCK_BOOTTIME does not go back, and the pinned config keeps the last
// one for an adopting daemon to continue from.
uint64_t NextGeneration(uint64_t last) {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  const uint64_t ns = static_cast<uint64_t>(now.tv_sec) * 1000000000u + now.tv_nsec;
  return std::max(ns, last + 1);
}

}  // namespace

absl::Status Scope::WriteConfig(const std::string& cgroup2_mount) {
  gk_config cfg{};
  cfg.scope_id = spec_.id;
  if (spec_.host) {
    cfg.flags |= GK_CFG_HOST;
    if (!spec_.gates_cgroup_path.empty()) {
      GK_ASSIGN_OR_RETURN(Cgroup gates, Cgroup::CreateOrOpen(spec_.gates_cgroup_path));
      GK_ASSIGN_OR_RETURN(cfg.gates_cgroup_level,
                          CgroupLevel(cgroup2_mount, spec_.gates_cgroup_path));
      cfg.gates_cgroup_id = gates.id();
    }
  }
  if (spec_.bound_ifindex) {
    cfg.flags |= GK_CFG_BIND_DEVICE;
    cfg.bound_ifindex = *spec_.bound_ifindex;
  }
  cfg.event_burst = spec_.events.burst;
  cfg.event_interval_ns = absl::ToInt64Nanoseconds(spec_.events.interval);
  cfg.policy_generation = policy_generation_;
  if (allow_cache_) cfg.flags |= GK_CFG_ALLOW_CACHE;
  const __u32 zero = 0;
  if (bpf_map_update_elem(config_.get(), &zero, &cfg, BPF_ANY) != 0) {
    return ErrnoStatus(errno, absl::StrCat("scope ", spec_.name, ": write config"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Scope> Scope::Create(const ScopeSpec& spec, const policy::CompiledPolicy& policy,
                                    int events_fd, const std::string& cgroup2_mount,
                                    const std::string& pin_dir) {
  std::error_code ec;
  if (std::filesystem::exists(pin_dir, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat("scope ", spec.name, ": pins already exist in ", pin_dir));
  }
  GK_ASSIGN_OR_RETURN(Cgroup cgroup, Cgroup::CreateOrOpen(spec.cgroup_path));

  Scope scope;
  scope.spec_ = spec;
  scope.pin_dir_ = pin_dir;
  scope.cgroup_id_ = cgroup.id();

  GateSkeleton skel;
  {
    // libbpf fills process-wide caches (kernel feature probes) without a lock, and
    // Engine::PrepareScopes creates scopes from several threads: loads go one at a time. The
    // verifier's work is CPU time anyway; what those threads overlap is waiting.
    static std::mutex load_mutex;
    std::lock_guard<std::mutex> lock(load_mutex);
    skel.reset(gate__open());
    if (!skel) return ErrnoStatus(errno, absl::StrCat("scope ", spec.name, ": open BPF object"));
    if (int err = bpf_map__reuse_fd(skel->maps.events, events_fd); err != 0) {
      return ErrnoStatus(err, absl::StrCat("scope ", spec.name, ": share the event ring buffer"));
    }
    if (int err = gate__load(skel.get()); err != 0) {
      return ErrnoStatus(err, absl::StrCat("scope ", spec.name, ": load BPF programs"));
    }
  }
  GK_ASSIGN_OR_RETURN(scope.policy_v4_, Dup(bpf_map__fd(skel->maps.policy_v4), "policy_v4"));
  GK_ASSIGN_OR_RETURN(scope.policy_v6_, Dup(bpf_map__fd(skel->maps.policy_v6), "policy_v6"));
  GK_ASSIGN_OR_RETURN(scope.allow_cache_v4_,
                      Dup(bpf_map__fd(skel->maps.allow_cache_v4), "allow_cache_v4"));
  GK_ASSIGN_OR_RETURN(scope.allow_cache_v6_,
                      Dup(bpf_map__fd(skel->maps.allow_cache_v6), "allow_cache_v6"));
  GK_ASSIGN_OR_RETURN(scope.config_, Dup(bpf_map__fd(skel->maps.config), "config"));
  GK_ASSIGN_OR_RETURN(scope.stats_, Dup(bpf_map__fd(skel->maps.stats), "stats"));

  // Policy before attachment: the programs fail closed without one, so order is for clarity.
  GK_RETURN_IF_ERROR(scope.WriteConfig(cgroup2_mount));
  GK_RETURN_IF_ERROR(scope.ReplacePolicy(policy));

  struct Attach {
    bpf_program* prog;
    bpf_attach_type type;
    UniqueFd* link;
  };
  for (const Attach& a :
       {Attach{skel->progs.gk_ingress, BPF_CGROUP_INET_INGRESS, &scope.ingress_link_},
        Attach{skel->progs.gk_egress, BPF_CGROUP_INET_EGRESS, &scope.egress_link_}}) {
    // A bpf_link attaches with BPF_F_ALLOW_MULTI semantics: other programs on the path still run.
    a.link->reset(bpf_link_create(bpf_program__fd(a.prog), cgroup.fd(), a.type, nullptr));
    if (!*a.link) {
      return ErrnoStatus(errno,
                         absl::StrCat("scope ", spec.name, ": attach ", bpf_program__name(a.prog),
                                      " to cgroup ", spec.cgroup_path));
    }
  }

  GK_RETURN_IF_ERROR(scope.ReadProgramIds());
  std::filesystem::create_directories(pin_dir, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("create BPF pin directory ", pin_dir));
  for (const auto& [name, fd] : scope.Pinned()) {
    const std::string path = PinPath(pin_dir, name);
    if (bpf_obj_pin(fd, path.c_str()) != 0) {
      const int err = errno;
      (void)RemovePinTree(pin_dir);  // the links detach when their fds close on return
      return ErrnoStatus(err, absl::StrCat("pin ", path));
    }
  }
  return scope;
}

std::vector<std::pair<const char*, int>> Scope::Pinned() const {
  return {
      {kPolicyV4Pin, policy_v4_.get()},
      {kPolicyV6Pin, policy_v6_.get()},
      {kAllowCacheV4Pin, allow_cache_v4_.get()},
      {kAllowCacheV6Pin, allow_cache_v6_.get()},
      {kConfigPin, config_.get()},
      {kStatsPin, stats_.get()},
      {kIngressPin, ingress_link_.get()},
      {kEgressPin, egress_link_.get()},
  };
}

absl::StatusOr<std::vector<std::string>> Scope::RepairPins() const {
  std::error_code ec;
  std::filesystem::create_directories(pin_dir_, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("create BPF pin directory ", pin_dir_));
  std::vector<std::string> repaired;
  for (const auto& [name, fd] : Pinned()) {
    const std::string path = PinPath(pin_dir_, name);
    if (std::filesystem::exists(path, ec)) continue;
    if (bpf_obj_pin(fd, path.c_str()) != 0) return ErrnoStatus(errno, absl::StrCat("pin ", path));
    repaired.push_back(path);
  }
  return repaired;
}

absl::StatusOr<Scope> Scope::Adopt(const ScopeSpec& spec, const std::string& cgroup2_mount,
                                   const std::string& pin_dir) {
  // A missing directory is made anew, so a link still attached to the removed one shows up as
  // attached elsewhere instead of being taken for stale.
  GK_ASSIGN_OR_RETURN(Cgroup cgroup, Cgroup::CreateOrOpen(spec.cgroup_path));
  Scope scope;
  scope.spec_ = spec;
  scope.pin_dir_ = pin_dir;
  scope.cgroup_id_ = cgroup.id();
  GK_ASSIGN_OR_RETURN(scope.ingress_link_, OpenPin(pin_dir, kIngressPin));
  GK_ASSIGN_OR_RETURN(scope.egress_link_, OpenPin(pin_dir, kEgressPin));
  GK_RETURN_IF_ERROR(CheckAttached(scope.ingress_link_.get(), cgroup, BPF_CGROUP_INET_INGRESS,
                                   PinPath(pin_dir, kIngressPin)));
  GK_RETURN_IF_ERROR(CheckAttached(scope.egress_link_.get(), cgroup, BPF_CGROUP_INET_EGRESS,
                                   PinPath(pin_dir, kEgressPin)));
  GK_RETURN_IF_ERROR(scope.ReadProgramIds());
  GK_ASSIGN_OR_RETURN(scope.policy_v4_, OpenPin(pin_dir, kPolicyV4Pin));
  GK_ASSIGN_OR_RETURN(scope.policy_v6_, OpenPin(pin_dir, kPolicyV6Pin));
  GK_ASSIGN_OR_RETURN(scope.allow_cache_v4_, OpenPin(pin_dir, kAllowCacheV4Pin));
  GK_ASSIGN_OR_RETURN(scope.allow_cache_v6_, OpenPin(pin_dir, kAllowCacheV6Pin));
  GK_ASSIGN_OR_RETURN(scope.config_, OpenPin(pin_dir, kConfigPin));
  GK_ASSIGN_OR_RETURN(scope.stats_, OpenPin(pin_dir, kStatsPin));
  gk_config old{};
  const __u32 zero = 0;
  if (bpf_map_lookup_elem(scope.config_.get(), &zero, &old) != 0) {
    return ErrnoStatus(errno, absl::StrCat("scope ", spec.name, ": read config"));
  }
  scope.policy_generation_ = old.policy_generation;  // the caches in place refer to it
  scope.allow_cache_ = (old.flags & GK_CFG_ALLOW_CACHE) != 0;
  GK_RETURN_IF_ERROR(scope.WriteConfig(cgroup2_mount));
  return scope;
}

absl::Status Scope::UpdateConfig(const std::function<void(gk_config&)>& modify,
                                 absl::string_view what) {
  const __u32 zero = 0;
  gk_config cfg{};
  if (bpf_map_lookup_elem(config_.get(), &zero, &cfg) != 0) {
    return ErrnoStatus(errno, absl::StrCat("scope ", spec_.name, ": read config", what));
  }
  modify(cfg);
  if (bpf_map_update_elem(config_.get(), &zero, &cfg, BPF_ANY) != 0) {
    return ErrnoStatus(errno, absl::StrCat("scope ", spec_.name, ": write config", what));
  }
  return absl::OkStatus();
}

absl::Status Scope::ResetAllowCaches(const std::array<bool, 2>& on) {
  const std::array<int, 2> outer = {allow_cache_v4_.get(), allow_cache_v6_.get()};
  std::array<UniqueFd, 2> caches;
  std::array<SlotWrite, 2> writes;
  for (int family = 0; family < 2; ++family) {
    // Off: the slot is emptied, which frees what the old cache holds (a hash's buckets alone
    // take 16 bytes per entry it may hold); the programs skip a family without a cache.
    if (on[family]) {
      GK_ASSIGN_OR_RETURN(caches[family], CreateAllowCache(spec_.name, family == 1));
    }
    writes[family] = {.outer_fd = outer[family],
                      .inner_fd = on[family] ? caches[family].get() : -1};
  }
  const std::vector<int> errs = WriteSlotsTogether(writes);
  for (int family = 0; family < 2; ++family) {
    if (errs[family] != 0) {
      return ErrnoStatus(errs[family],
                         absl::StrCat("scope ", spec_.name, ": ", on[family] ? "swap in" : "remove",
                                      " an allow cache"));
    }
  }
  return absl::OkStatus();
}

absl::Status Scope::ReplacePolicy(const policy::CompiledPolicy& policy) {
  // Issued before anything can fail and never reused: verdicts cached from tries of an attempt
  // that was rolled back then cannot match a later policy.
  const uint64_t generation = NextGeneration(policy_generation_);
  GK_ASSIGN_OR_RETURN(PolicyTries tries, BuildPolicyTries(policy, generation, spec_.name));
  // Empty caches first: what they held was of the old generation, which stops counting below.
  // Caches never decide alone (a hit needs the current generation), so a failure here changes
  // no verdict and leaves the old policy in place.
  const std::array<bool, 2> deep = {policy.v4.size() >= spec_.allow_cache_min_prefixes,
                                    policy.v6.size() >= spec_.allow_cache_min_prefixes};
  const bool cache = deep[0] || deep[1];
  GK_RETURN_IF_ERROR(ResetAllowCaches(deep));
  // Remember the tries in place so that when one family's swap fails, the other's can be put
  // back. Each family's swap is one slot write; the two go at once (see slot_writes.h).
  const __u32 zero = 0;
  const std::array<int, 2> outer = {policy_v4_.get(), policy_v6_.get()};
  std::array<__u32, 2> old_ids{};
  std::array<bool, 2> had{};
  for (int family = 0; family < 2; ++family) {
    had[family] = bpf_map_lookup_elem(outer[family], &zero, &old_ids[family]) == 0;
  }
  const std::array<SlotWrite, 2> swaps = {SlotWrite{outer[0], tries.v4.get()},
                                          SlotWrite{outer[1], tries.v6.get()}};
  const std::vector<int> errs = WriteSlotsTogether(swaps);
  if (errs[0] != 0 || errs[1] != 0) {
    const int failed_family = errs[0] != 0 ? 0 : 1;
    constexpr std::array<const char*, 2> kNames = {"IPv4", "IPv6"};
    absl::Status failed = ErrnoStatus(
        errs[failed_family],
        absl::StrCat("scope ", spec_.name, ": swap in the ", kNames[failed_family], " policy"));
    const int other = 1 - failed_family;
    if (errs[other] == 0 && had[other]) {
      UniqueFd old(bpf_map_get_fd_by_id(old_ids[other]));
      if (!old || WriteSlot({.outer_fd = outer[other], .inner_fd = old.get()}) != 0) {
        return absl::InternalError(absl::StrCat(failed.message(), "; the ", kNames[other],
                                                " policy is already the new one and could not be "
                                                "restored"));
      }
    }
    return failed;
  }
  // Only now: a verdict of the new generation is cached from the new tries alone, while the old
  // generation still matches cached verdicts of the old policy until this write lands.
  GK_RETURN_IF_ERROR(UpdateConfig(
      [&](gk_config& cfg) {
        cfg.policy_generation = generation;
        cfg.flags = cache ? (cfg.flags | GK_CFG_ALLOW_CACHE) : (cfg.flags & ~GK_CFG_ALLOW_CACHE);
      },
      " (the new policy is in place, but peers may keep verdicts of the old one)"));
  policy_generation_ = generation;
  allow_cache_ = cache;
  return absl::OkStatus();
}

absl::Status Scope::SetBoundDevice(std::optional<uint32_t> ifindex) {
  GK_RETURN_IF_ERROR(UpdateConfig(
      [&](gk_config& cfg) {
        cfg.flags = ifindex ? (cfg.flags | GK_CFG_BIND_DEVICE) : (cfg.flags & ~GK_CFG_BIND_DEVICE);
        cfg.bound_ifindex = ifindex.value_or(0);
      },
      ""));
  spec_.bound_ifindex = ifindex;
  return absl::OkStatus();
}

absl::StatusOr<ScopeStats> Scope::ReadStats() const {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return ErrnoStatus(-ncpus, "count possible CPUs");
  std::vector<gk_stats> per_cpu(ncpus);
  const __u32 zero = 0;
  if (bpf_map_lookup_elem(stats_.get(), &zero, per_cpu.data()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("scope ", spec_.name, ": read counters"));
  }
  ScopeStats out;
  auto add = [](Counter& to, const gk_counter& from) {
    to.packets += from.packets;
    to.bytes += from.bytes;
  };
  for (const gk_stats& s : per_cpu) {
    for (int d = 0; d < 2; ++d) {
      add(out.allowed[d], s.allowed[d]);
      add(out.denied[d], s.denied[d]);
      add(out.delegated[d], s.delegated[d]);
    }
    out.events_sent += s.events_sent;
    out.events_suppressed += s.events_suppressed;
    out.events_lost += s.events_lost;
    add(out.rst_passed, s.rst_passed);
  }
  return out;
}

absl::Status Scope::ReadProgramIds() {
  for (int i = 0; i < 2; ++i) {
    GK_ASSIGN_OR_RETURN(bpf_link_info info,
                        LinkInfo(i == 0 ? ingress_link_.get() : egress_link_.get()));
    program_ids_[i] = info.prog_id;
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> Scope::ProgramFd(Direction direction) const {
  GK_ASSIGN_OR_RETURN(
      bpf_link_info info,
      LinkInfo(direction == Direction::kIngress ? ingress_link_.get() : egress_link_.get()));
  UniqueFd fd(bpf_prog_get_fd_by_id(info.prog_id));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("scope ", spec_.name, ": open program"));
  return fd;
}

absl::Status Scope::Remove() {
  GK_RETURN_IF_ERROR(RemovePinTree(pin_dir_));
  // With the pins gone, closing our fds releases the links: the programs detach.
  ingress_link_.reset();
  egress_link_.reset();
  return absl::OkStatus();
}

}  // namespace gatekeeper::kernel
