#include "daemon/daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "config/config.h"
#include "config/user_resolver.h"
#include "daemon/daemon_state.h"
#include "daemon/file_limit.h"
#include "daemon/metrics.h"
#include "kernel/cgroup.h"
#include "kernel/denial_events.h"
#include "kernel/kernel_support.h"

namespace gatekeeper::daemon {

void Log(const std::string& line) {
  std::fprintf(stderr, "%s%s\n", line.starts_with("<") ? "" : "<6>", line.c_str());
  std::fflush(stderr);
}

namespace {

void WarnLog(const std::string& line) { Log("<4>" + line); }

ListenerOptions OptionsFor(const config::SocketConfig& s) {
  ListenerOptions o;
  o.device = s.bind_to_device;
  o.backlog = s.backlog ? static_cast<int>(*s.backlog) : 4096;
  o.reuse_port = s.reuse_port;
  o.free_bind = s.free_bind;
  o.v6only = s.bind_ipv6_only == config::BindIPv6Only::kDefault    ? -1
             : s.bind_ipv6_only == config::BindIPv6Only::kIPv6Only ? 1
                                                                   : 0;
  if (s.socket_user) o.socket_user = s.socket_user->uid;
  if (s.socket_group) o.socket_group = s.socket_group->gid;
  o.socket_mode = s.socket_mode;
  return o;
}

}  // namespace

absl::StatusOr<config::Config> Daemon::LoadConfig(std::vector<std::string>* errors) const {
  config::SystemUserResolver resolver;
  config::LoadResult loaded = config::LoadConfigDir(options_.config_dir, resolver);
  for (const config::Diagnostic& w : loaded.warnings) Log("<4>" + w.ToString());
  if (!loaded.ok()) {
    std::vector<std::string> lines;
    for (const config::Diagnostic& e : loaded.errors) lines.push_back(e.ToString());
    if (errors != nullptr) *errors = lines;
    return absl::InvalidArgumentError(
        absl::StrCat("the configuration has errors:\n", absl::StrJoin(lines, "\n")));
  }
  return std::move(loaded.config);
}

absl::Status Daemon::Setup() {
  // Options and configuration are checked before anything in the kernel changes.
  std::string metrics_listen = options_.metrics_listen;
  if (!metrics_listen.empty() &&
      metrics_listen.find_first_not_of("0123456789") == std::string::npos) {
    // A bare port means loopback: metrics are nobody else's business unless the operator says so.
    metrics_listen = absl::StrCat("127.0.0.1:", metrics_listen);
  }
  if (!metrics_listen.empty()) GK_RETURN_IF_ERROR(ParseMetricsListen(metrics_listen).status());
  GK_ASSIGN_OR_RETURN(config_, LoadConfig(nullptr));
  // Before the gates open their fds. Without the raise the daemon still works, up to fewer gates.
  if (absl::StatusOr<rlim_t> original = RaiseFileLimit(); original.ok()) {
    service_nofile_soft_limit_ = *original;
  } else {
    Log(absl::StrCat("<4>", original.status().message(), "; going on with the current limit"));
  }
  GK_ASSIGN_OR_RETURN(loop_, EventLoop::Create());
  // Also before the kernel: a port in use or a missing libmicrohttpd (loaded only now, so without
  // the endpoint it and its TLS stack are never mapped) must leave nothing behind. It serves only
  // once the loop runs, after the gates exist.
  if (!metrics_listen.empty()) {
    GK_ASSIGN_OR_RETURN(metrics_http_,
                        MetricsHttpServer::Start(
                            *loop_, metrics_listen, [this] { return Metrics(); }, Log));
    Log(absl::StrCat("<6>metrics at http://", metrics_listen.substr(0, metrics_listen.rfind(':')),
                     ":", metrics_http_->port(), "/metrics"));
  }
  kernel::LiveKernelProbe probe;
  GK_ASSIGN_OR_RETURN(
      engine_, kernel::Engine::Open({.bpffs_dir = options_.bpffs_dir, .warn = WarnLog}, probe));
  GK_ASSIGN_OR_RETURN(layout_.base,
                      ChooseCgroupBase(engine_->cgroup2_mount(), options_.cgroup_base));
  GK_RETURN_IF_ERROR(EnterSupervisor(engine_->cgroup2_mount(), layout_, WarnLog));
  GK_ASSIGN_OR_RETURN(kernel::Cgroup gates_cgroup, kernel::Cgroup::CreateOrOpen(layout_.gates()));
  // Before anything listens: a previous daemon's services still hold its listeners.
  GK_RETURN_IF_ERROR(KillLeftoverServices());

  GK_ASSIGN_OR_RETURN(links_, net::LinkWatcher::Create([this] { ReconcileAll(); }));
  system_ = std::make_unique<KernelGateSystem>(*links_, *engine_);
  GK_ASSIGN_OR_RETURN(EventSource netlink, loop_->AddIo(links_->fd(), EPOLLIN, [this](uint32_t) {
    link_event_at_ = absl::Now();
    const uint64_t resyncs = links_->resyncs();
    if (absl::Status s = links_->Process(); !s.ok()) Log(absl::StrCat("<3>netlink: ", s.message()));
    if (links_->resyncs() != resyncs) {
      Log(
          absl::StrCat("<4>netlink: events were lost (socket overflow); resynchronised from a full "
                       "dump: ",
                       links_->last_resync_changes().empty()
                           ? std::string("nothing had changed")
                           : absl::StrJoin(links_->last_resync_changes(), "; ")));
    }
  }));
  sources_.push_back(std::move(netlink));

  denials_ = std::make_unique<DenialLog>(Log);
  GK_RETURN_IF_ERROR(
      ApplyHostLists(config_.host.lists, policy::Share(policy::Compile(config_.host.lists))));
  // Every gate's scopes are built at once first: see Engine::PrepareScopes.
  std::vector<GateScopes> plans;
  std::vector<kernel::Engine::ScopeRequest> requests;
  for (const config::GateConfig& gate : config_.gates) {
    GateScopes& plan = plans.emplace_back(PlanGateScopes(gate, NextScopeId()));
    requests.push_back({plan.socket, plan.socket_policy});
    if (plan.service) requests.push_back({*plan.service, plan.service_policy});
  }
  engine_->PrepareScopes(requests);
  for (size_t i = 0; i < config_.gates.size(); ++i) {
    GK_RETURN_IF_ERROR(StartGate(config_.gates[i], std::move(plans[i])));
  }
  GK_RETURN_IF_ERROR(RemoveUnconfiguredGates());
  GK_ASSIGN_OR_RETURN(EventSource events_source, denials_->Attach(*loop_, engine_->events_fd()));
  sources_.push_back(std::move(events_source));

  mkdir(options_.runtime_dir.c_str(), 0755);
  GK_ASSIGN_OR_RETURN(
      control_, ControlServer::Listen(
                    *loop_, options_.runtime_dir + "/control.sock", config_.host.control_group,
                    [this](const nlohmann::json& r) { return HandleControl(r); }, Log));
  for (int sig : {SIGTERM, SIGINT}) {
    GK_ASSIGN_OR_RETURN(EventSource s, loop_->AddSignal(sig, [this] { Shutdown(); }));
    sources_.push_back(std::move(s));
  }
  GK_ASSIGN_OR_RETURN(EventSource hup, loop_->AddSignal(SIGHUP, [this] {
    Log("<6>SIGHUP: reloading the configuration");
    (void)Reload();
  }));
  sources_.push_back(std::move(hup));
  GK_ASSIGN_OR_RETURN(EventSource post, loop_->AddPost([this] { UpdateStatus(); }));
  sources_.push_back(std::move(post));
  GK_RETURN_IF_ERROR(loop_->EnableWatchdog());

  ReconcileAll();
  return absl::OkStatus();
}

uint32_t Daemon::NextScopeId() {
  const uint32_t id = next_scope_id_;
  next_scope_id_ += 2;
  return id;
}

absl::Status Daemon::EnsureScope(const kernel::ScopeSpec& spec,
                                 const policy::CompiledPolicy& policy) {
  if (kernel::Scope* scope = engine_->FindScope(spec.name)) {
    // A gate rebuilt by a reload keeps its scope: the filter never lapses in between.
    GK_RETURN_IF_ERROR(scope->ReplacePolicy(policy));
    return scope->SetBoundDevice(spec.bound_ifindex);
  }
  return engine_->AttachScope(spec, policy).status();
}

std::unique_ptr<ServiceSupervisor> Daemon::MakeSupervisor(const config::GateConfig& gate) {
  if (!gate.service) return nullptr;
  absl::StatusOr<kernel::Cgroup> cg = kernel::Cgroup::Open(layout_.service(gate.name));
  if (!cg.ok()) {
    Log(absl::StrCat("<3>gate ", gate.name, ": ", cg.status().message()));
    return nullptr;
  }
  common::UniqueFd cgroup_fd(::fcntl(cg->fd(), F_DUPFD_CLOEXEC, 3));
  return std::make_unique<ServiceSupervisor>(gate.name, *gate.service, gate.socket,
                                             std::move(cgroup_fd), service_nofile_soft_limit_,
                                             *loop_, Log);
}

GateScopes Daemon::PlanGateScopes(const config::GateConfig& gate, uint32_t id) const {
  GateScopes plan;
  plan.id = id;
  const policy::AccessLists* socket_lists[] = {&config_.host.lists, &gate.socket.lists};
  plan.socket_policy = policy::Share(policy::Compile(socket_lists));
  plan.socket.name = gate.name + ".socket";
  plan.socket.id = id;
  plan.socket.cgroup_path = layout_.socket(gate.name);
  // Bound to "no device" until the device shows up: nothing gets in before.
  if (!gate.socket.bind_to_device.empty()) plan.socket.bound_ifindex = 0;
  if (gate.service) {
    const policy::AccessLists* service_lists[] = {&config_.host.lists, &gate.service->lists};
    plan.service_policy = policy::Share(policy::Compile(service_lists));
    kernel::ScopeSpec& service = plan.service.emplace();
    service.name = gate.name + ".service";
    service.id = id + 1;
    service.cgroup_path = layout_.service(gate.name);
  }
  return plan;
}

absl::Status Daemon::StartGate(const config::GateConfig& gate, uint32_t id) {
  return StartGate(gate, PlanGateScopes(gate, id));
}

absl::Status Daemon::StartGate(const config::GateConfig& gate, GateScopes scopes) {
  GateRuntime rt;
  rt.config = gate;
  rt.id = scopes.id;
  rt.socket_policy = scopes.socket_policy;
  GK_RETURN_IF_ERROR(EnsureScope(scopes.socket, *rt.socket_policy));
  denials_->AddScope(rt.id, gate.name, "socket", rt.socket_policy);

  if (scopes.service) {
    rt.service_policy = scopes.service_policy;
    GK_RETURN_IF_ERROR(EnsureScope(*scopes.service, *rt.service_policy));
    denials_->AddScope(rt.id + 1, gate.name, "service", rt.service_policy);
    rt.service = MakeSupervisor(gate);
  }
  GateSpec spec{.name = gate.name,
                .listens = gate.socket.listen,
                .options = OptionsFor(gate.socket),
                .socket_cgroup = scopes.socket.cgroup_path,
                .socket_scope = scopes.socket.name};
  rt.gate = std::make_unique<Gate>(std::move(spec), *system_, Log);
  gates_.insert_or_assign(gate.name, std::move(rt));
  return absl::OkStatus();
}

void Daemon::ReconcileAll() {
  if (shutting_down_) return;
  for (auto& [name, rt] : gates_) {
    if (rt.gate->Reconcile() && link_event_at_) {
      Log(absl::StrCat("<6>gate ", name, ": listening ",
                       absl::FormatDuration(absl::Now() - *link_event_at_),
                       " after the link event"));
    }
    if (rt.service && !rt.service_started && !rt.gate->listeners().empty()) {
      std::vector<int> fds;
      for (const common::UniqueFd& fd : rt.gate->listeners()) fds.push_back(fd.get());
      rt.service->OnListenersReady(std::move(fds));
      rt.service_started = true;
    }
  }
}

nlohmann::json Daemon::Explain(const nlohmann::json& request) {
  const std::string text = request.value("address", "");
  const std::optional<policy::Address> address = policy::Address::Parse(text);
  if (!address) return {{"error", absl::StrCat("\"", text, "\" is not a numeric IP address")}};
  const bool host = request.value("host", false);
  const std::string gate = request.value("gate", "");
  const GateRuntime* rt = nullptr;
  if (!host) {
    auto it = gates_.find(gate);
    if (it == gates_.end()) return {{"error", absl::StrCat("no gate \"", gate, "\"")}};
    rt = &it->second;
  }
  // Without host lists there is no host policy: nothing matches, everything passes.
  const policy::CompiledPolicy empty;
  const policy::CompiledPolicy* compiled = denials_->FindPolicy(gate, host ? "host" : "socket");
  const policy::Verdict v = policy::Evaluate(compiled ? *compiled : empty, *address);
  nlohmann::json verdict = {
      {"verdict", v.action == policy::Action::kAllow ? "allow" : "deny"},
      {"rule", v.rule ? absl::StrCat(v.rule->entry->origin.ToString(), v.rule->entry->token)
                      : std::string()}};
  // The lists are the same in both directions (ingress checks the source, egress the destination);
  // only ingress is also tied to the gate's device.
  nlohmann::json ingress = verdict;
  if (rt != nullptr && !rt->gate->spec().options.device.empty()) {
    ingress["device"] = rt->gate->spec().options.device;
  }
  nlohmann::json reply = {{"scope", host ? "host" : absl::StrCat(gate, ".socket")},
                          {"address", address->ToString()},
                          {"ingress", ingress},
                          {"egress", verdict}};
  if (address->IsV4Mapped()) {
    reply["note"] =
        "an IPv4-mapped address is matched as IPv6; IPv4 peers of a dual-stack listener are "
        "matched as plain IPv4 (ask for the IPv4 address)";
  }
  return reply;
}

std::vector<GateStatus> Daemon::CollectStatus(const std::string& only) const {
  std::vector<GateStatus> out;
  // Read once for all gates: with G gates, asking per gate would read every scope's links G times.
  std::optional<absl::StatusOr<std::vector<uint32_t>>> own;
  for (const auto& [name, rt] : gates_) {
    if (!only.empty() && only != name) continue;
    GateStatus s;
    s.name = name;
    s.state = rt.gate->state();
    s.reason = rt.gate->reason();
    s.device = rt.gate->spec().options.device;
    s.ifindex = rt.gate->ifindex();
    for (const config::ListenSpec& l : rt.gate->spec().listens) {
      s.listen.push_back(absl::StrCat(std::string(l.KeyName()), "=", l.ToString()));
    }
    if (rt.service) {
      s.service = rt.service->Status();
      if (s.state == GateState::kListening && s.service.state == "running") {
        s.state = GateState::kRunning;
      }
    }
    if (kernel::Scope* scope = engine_->FindScope(name + ".socket")) {
      if (auto stats = scope->ReadStats(); stats.ok()) s.socket_counters = *stats;
      if (!own) own = engine_->OwnProgramIds();
      absl::StatusOr<std::vector<kernel::AttachedProgram>> foreign =
          own->ok() ? engine_->ForeignPrograms(*scope, **own) : own->status();
      if (foreign.ok()) {
        for (const kernel::AttachedProgram& p : *foreign) {
          s.foreign_programs.push_back(
              absl::StrCat(p.name, " (id ", p.id, ", ",
                           p.direction == kernel::Direction::kIngress ? "ingress" : "egress", ")"));
        }
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

ControlReply Daemon::HandleControl(const nlohmann::json& request) {
  const std::string command = request.value("command", "");
  if (command == "explain") return Explain(request);
  if (command == "metrics") return nlohmann::json{{"text", Metrics()}};
  if (command == "reload") return Reload();
  if (command != "status") {
    return nlohmann::json{{"error", absl::StrCat("unknown command \"", command, "\"")}};
  }
  return StatusReply(request.value("gate", ""));
}

ControlReply Daemon::StatusReply(const std::string& only) const {
  const std::vector<GateStatus> statuses = CollectStatus(only);
  if (!only.empty() && statuses.empty()) {
    return nlohmann::json{{"error", absl::StrCat("no gate \"", only, "\"")}};
  }
  // The text of {"gates": [...], "netlink_resyncs": N} (keys in nlohmann's sorted order), one
  // gate's tree at a time: the tree of a hundred gates takes a few times the 100 KB of its text,
  // and the heap keeps that high-water mark resident.
  std::string text = "{\"gates\":[";
  for (const GateStatus& s : statuses) {
    if (&s != &statuses.front()) text.push_back(',');
    nlohmann::json j = ToJson(s);
    j["last_denials"] = denials_->Recent(s.name);
    AppendSerialized(j, text);
  }
  absl::StrAppend(&text, "],\"netlink_resyncs\":", links_->resyncs(), "}");
  return ControlReply::Serialized(std::move(text));
}

std::string Daemon::Metrics() const {
  return RenderMetrics(CollectStatus(""), links_->resyncs(), denials_->AllCounters());
}

void Daemon::UpdateStatus() {
  int listening = 0;
  int waiting = 0;
  int failed = 0;
  for (const auto& [name, rt] : gates_) {
    switch (rt.gate->state()) {
      case GateState::kListening:
      case GateState::kRunning:
        ++listening;
        break;
      case GateState::kFailed:
        ++failed;
        break;
      default:
        ++waiting;
    }
  }
  const std::string status = absl::StrCat(gates_.size(), " gates: ", listening, " listening, ",
                                          waiting, " waiting, ", failed, " failed");
  if (status == last_status_) return;
  last_status_ = status;
  sd_notify(0, ("STATUS=" + status).c_str());
}

void Daemon::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  Log("<6>stopping: services get SIGTERM");
  sd_notify(0, "STOPPING=1");
  auto pending = std::make_shared<int>(0);
  // Services already stopping for a reload finish on their own; FinishShutdown kills them all.
  for (auto& [name, rt] : gates_) {
    if (!rt.service) continue;
    ++*pending;
    rt.service->Stop([this, pending] {
      if (--*pending == 0) FinishShutdown();
    });
  }
  if (*pending == 0) {
    FinishShutdown();
    return;
  }
  auto timer = loop_->AddTimer(absl::Seconds(5), [this] {
    Log("<4>services did not stop within 5 s: killing them");
    FinishShutdown();
  });
  if (timer.ok()) shutdown_timer_ = *std::move(timer);
}

void Daemon::FinishShutdown() {
  shutdown_timer_.reset();
  // Every gate cgroup, including those of gates a reload is still retiring.
  for (const std::string& path : kernel::ChildCgroups(layout_.gates())) {
    if (auto cg = kernel::Cgroup::Open(path); cg.ok()) (void)cg->KillAll();
  }
  loop_->Exit(0);
}

absl::Status Daemon::Run() {
  // Reading and compiling the configuration leave freed heap that glibc keeps resident (40 MiB
  // after a gate of a million prefixes): handed back once, before settling in, as after a reload.
  ::malloc_trim(0);
  sd_notify(0, "READY=1");
  Log(absl::StrCat("<6>gatekeeper ready: ", gates_.size(), " gates, cgroups under ", layout_.base,
                   ", pins in ", engine_->pin_dir()));
  GK_RETURN_IF_ERROR(loop_->Run());
  // Services were asked to stop and then killed; killing is asynchronous, so wait for the
  // cgroups to empty before their filters go (no socket of theirs may outlive its filter).
  for (const std::string& path : kernel::ChildCgroups(layout_.gates())) {
    auto cg = kernel::Cgroup::Open(path);
    if (!cg.ok()) continue;
    if (absl::Status s = cg->WaitEmpty(absl::Seconds(5)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(s.message(), "; leaving the filters in place"));
    }
  }
  // Services are gone and the listeners close with the gates: now the filters may go too.
  retiring_.clear();
  gates_.clear();
  metrics_http_.reset();
  control_.reset();
  sources_.clear();
  links_.reset();
  GK_RETURN_IF_ERROR(engine_->RemoveAll());
  GK_RETURN_IF_ERROR(kernel::RemoveCgroupTree(layout_.gates()));
  return LeaveSupervisor(layout_, WarnLog);
}

absl::Status RunDaemon(const DaemonOptions& options) {
  // One malloc arena: the threads that build scopes and write slots mostly wait on the kernel,
  // and an arena of their own each would stay resident (0.8 MiB with 100 gates).
  ::mallopt(M_ARENA_MAX, 1);
  Daemon daemon(options);
  GK_RETURN_IF_ERROR(daemon.Setup());
  return daemon.Run();
}

}  // namespace gatekeeper::daemon
