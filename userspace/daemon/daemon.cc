#include "daemon/daemon.h"

#include <fcntl.h>
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
#include "daemon/cgroup_layout.h"
#include "daemon/control_server.h"
#include "daemon/denial_log.h"
#include "daemon/event_loop.h"
#include "daemon/gate.h"
#include "daemon/kernel_gate_system.h"
#include "daemon/metrics.h"
#include "daemon/service_supervisor.h"
#include "kernel/cgroup.h"
#include "kernel/denial_events.h"
#include "kernel/engine.h"
#include "kernel/kernel_support.h"
#include "net/link_watcher.h"

namespace gatekeeper::daemon {
namespace {

void Log(const std::string& line) {
  // journald reads the <N> priority prefix; plain stderr readers see it as text.
  std::fprintf(stderr, "%s%s\n", line.starts_with("<") ? "" : "<6>", line.c_str());
  std::fflush(stderr);
}

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

struct GateRuntime {
  std::unique_ptr<Gate> gate;
  std::unique_ptr<ServiceSupervisor> service;
  bool service_started = false;
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options) : options_(std::move(options)) {}
  absl::Status Setup();
  absl::Status Run();

 private:
  absl::Status AttachGate(const config::GateConfig& gate, uint32_t id);
  void ReconcileAll();
  nlohmann::json HandleControl(const nlohmann::json& request);
  nlohmann::json Explain(const nlohmann::json& request);
  std::vector<GateStatus> CollectStatus(const std::string& only) const;
  void UpdateStatus();
  void Shutdown();
  void FinishShutdown();

  DaemonOptions options_;
  config::Config config_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<kernel::Engine> engine_;
  std::unique_ptr<net::LinkWatcher> links_;
  std::unique_ptr<KernelGateSystem> system_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<DenialLog> denials_;
  CgroupLayout layout_;
  std::map<std::string, GateRuntime> gates_;
  std::vector<EventSource> sources_;
  EventSource shutdown_timer_;
  bool shutting_down_ = false;
  std::optional<absl::Time> link_event_at_;  // when the last netlink batch arrived
  std::string last_status_;
};

absl::Status Daemon::Setup() {
  config::SystemUserResolver resolver;
  config::LoadResult loaded = config::LoadConfigDir(options_.config_dir, resolver);
  for (const config::Diagnostic& w : loaded.warnings) Log("<4>" + w.ToString());
  if (!loaded.ok()) {
    std::vector<std::string> lines;
    for (const config::Diagnostic& e : loaded.errors) lines.push_back(e.ToString());
    return absl::InvalidArgumentError(
        absl::StrCat("the configuration has errors:\n", absl::StrJoin(lines, "\n")));
  }
  config_ = std::move(loaded.config);

  GK_ASSIGN_OR_RETURN(loop_, EventLoop::Create());
  kernel::LiveKernelProbe probe;
  GK_ASSIGN_OR_RETURN(engine_,
                      kernel::Engine::Open({.bpffs_dir = options_.bpffs_dir,
                                            .warn = [](const std::string& m) { Log("<4>" + m); }},
                                           probe));
  GK_ASSIGN_OR_RETURN(layout_.base,
                      ChooseCgroupBase(engine_->cgroup2_mount(), options_.cgroup_base));
  GK_ASSIGN_OR_RETURN(kernel::Cgroup supervisor,
                      kernel::Cgroup::CreateOrOpen(layout_.supervisor()));
  GK_RETURN_IF_ERROR(supervisor.AddProcess(0));
  GK_ASSIGN_OR_RETURN(kernel::Cgroup gates_cgroup, kernel::Cgroup::CreateOrOpen(layout_.gates()));

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
  if (!config_.host.lists.allow.empty() || !config_.host.lists.deny.empty()) {
    kernel::ScopeSpec host;
    host.name = "host";
    host.id = 1;
    host.cgroup_path =
        options_.host_cgroup.empty() ? engine_->cgroup2_mount() : options_.host_cgroup;
    host.host = true;
    host.gates_cgroup_path = layout_.gates();
    const policy::CompiledPolicy policy = policy::Compile(config_.host.lists);
    GK_RETURN_IF_ERROR(engine_->AttachScope(host, policy).status());
    denials_->AddScope(1, "host", "host", policy);
  }
  uint32_t id = 2;
  for (const config::GateConfig& gate : config_.gates) {
    GK_RETURN_IF_ERROR(AttachGate(gate, id));
    id += 2;
  }
  GK_ASSIGN_OR_RETURN(EventSource events_source, denials_->Attach(*loop_, engine_->events_fd()));
  sources_.push_back(std::move(events_source));

  mkdir(options_.runtime_dir.c_str(), 0755);
  GK_ASSIGN_OR_RETURN(control_,
                      ControlServer::Listen(
                          *loop_, options_.runtime_dir + "/control.sock",
                          [this](const nlohmann::json& r) { return HandleControl(r); }, Log));
  for (int sig : {SIGTERM, SIGINT}) {
    GK_ASSIGN_OR_RETURN(EventSource s, loop_->AddSignal(sig, [this] { Shutdown(); }));
    sources_.push_back(std::move(s));
  }
  GK_ASSIGN_OR_RETURN(EventSource hup, loop_->AddSignal(SIGHUP, [] {
    Log("<4>SIGHUP: reloading is not supported yet; restart gatekeeper to apply changes");
  }));
  sources_.push_back(std::move(hup));
  GK_ASSIGN_OR_RETURN(EventSource post, loop_->AddPost([this] { UpdateStatus(); }));
  sources_.push_back(std::move(post));
  GK_RETURN_IF_ERROR(loop_->EnableWatchdog());

  ReconcileAll();
  return absl::OkStatus();
}

absl::Status Daemon::AttachGate(const config::GateConfig& gate, uint32_t id) {
  const policy::AccessLists* socket_lists[] = {&config_.host.lists, &gate.socket.lists};
  const policy::CompiledPolicy socket_policy = policy::Compile(socket_lists);
  kernel::ScopeSpec socket_scope;
  socket_scope.name = gate.name + ".socket";
  socket_scope.id = id;
  socket_scope.cgroup_path = layout_.socket(gate.name);
  // Bound to "no device" until the device shows up: nothing gets in before.
  if (!gate.socket.bind_to_device.empty()) socket_scope.bound_ifindex = 0;
  GK_RETURN_IF_ERROR(engine_->AttachScope(socket_scope, socket_policy).status());
  denials_->AddScope(id, gate.name, "socket", socket_policy);

  GateRuntime rt;
  if (gate.service) {
    const policy::AccessLists* service_lists[] = {&config_.host.lists, &gate.service->lists};
    const policy::CompiledPolicy service_policy = policy::Compile(service_lists);
    kernel::ScopeSpec service_scope;
    service_scope.name = gate.name + ".service";
    service_scope.id = id + 1;
    service_scope.cgroup_path = layout_.service(gate.name);
    GK_RETURN_IF_ERROR(engine_->AttachScope(service_scope, service_policy).status());
    denials_->AddScope(id + 1, gate.name, "service", service_policy);
    GK_ASSIGN_OR_RETURN(kernel::Cgroup cg, kernel::Cgroup::Open(service_scope.cgroup_path));
    common::UniqueFd cgroup_fd(::fcntl(cg.fd(), F_DUPFD_CLOEXEC, 3));
    rt.service = std::make_unique<ServiceSupervisor>(gate.name, *gate.service, gate.socket,
                                                     std::move(cgroup_fd), *loop_, Log);
  }
  GateSpec spec{.name = gate.name,
                .listens = gate.socket.listen,
                .options = OptionsFor(gate.socket),
                .socket_cgroup = socket_scope.cgroup_path,
                .socket_scope = socket_scope.name};
  rt.gate = std::make_unique<Gate>(std::move(spec), *system_, Log);
  gates_.emplace(gate.name, std::move(rt));
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
      {"rule", v.rule ? absl::StrCat(v.rule->entry.origin.ToString(), v.rule->entry.token)
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
    }
    out.push_back(std::move(s));
  }
  return out;
}

nlohmann::json Daemon::HandleControl(const nlohmann::json& request) {
  const std::string command = request.value("command", "");
  if (command == "explain") return Explain(request);
  if (command == "metrics") return {{"text", RenderMetrics(CollectStatus(""), links_->resyncs())}};
  if (command != "status") return {{"error", absl::StrCat("unknown command \"", command, "\"")}};
  const std::string only = request.value("gate", "");
  nlohmann::json gates = nlohmann::json::array();
  for (const GateStatus& s : CollectStatus(only)) {
    nlohmann::json j = ToJson(s);
    j["last_denials"] = denials_->Recent(s.name);
    gates.push_back(std::move(j));
  }
  if (!only.empty() && gates.empty()) return {{"error", absl::StrCat("no gate \"", only, "\"")}};
  return {{"gates", gates}, {"netlink_resyncs", links_->resyncs()}};
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
  for (const auto& [name, rt] : gates_) {
    if (auto cg = kernel::Cgroup::Open(layout_.service(name)); cg.ok()) (void)cg->KillAll();
  }
  loop_->Exit(0);
}

absl::Status Daemon::Run() {
  sd_notify(0, "READY=1");
  Log(absl::StrCat("<6>gatekeeper ready: ", gates_.size(), " gates, cgroups under ", layout_.base,
                   ", pins in ", engine_->pin_dir()));
  GK_RETURN_IF_ERROR(loop_->Run());
  // Services were asked to stop and then killed; cgroup.kill is asynchronous, so wait for the
  // cgroups to empty before their filters go (no socket of theirs may outlive its filter).
  for (const auto& [name, rt] : gates_) {
    auto cg = kernel::Cgroup::Open(layout_.service(name));
    if (!cg.ok()) continue;
    if (absl::Status s = cg->WaitEmpty(absl::Seconds(5)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(s.message(), "; leaving the filters in place"));
    }
  }
  // Services are gone and the listeners close with the gates: now the filters may go too.
  gates_.clear();
  control_.reset();
  sources_.clear();
  links_.reset();
  GK_RETURN_IF_ERROR(engine_->RemoveAll());
  return kernel::RemoveCgroupTree(layout_.gates());
}

}  // namespace

absl::Status RunDaemon(const DaemonOptions& options) {
  Daemon daemon(options);
  GK_RETURN_IF_ERROR(daemon.Setup());
  return daemon.Run();
}

}  // namespace gatekeeper::daemon
