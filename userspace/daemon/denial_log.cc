#include "daemon/denial_log.h"

#include <netinet/in.h>

#include "absl/strings/str_cat.h"
#include "gate_abi.h"

namespace gatekeeper::daemon {

void DenialLog::AddScope(uint32_t scope_id, std::string gate, std::string kind,
                         policy::CompiledPolicy policy) {
  scopes_[scope_id] = ScopeInfo{std::move(gate), std::move(kind), std::move(policy)};
}

absl::StatusOr<EventSource> DenialLog::Attach(EventLoop& loop, int ring_buffer_fd) {
  auto reader = kernel::DenialEventReader::Create(
      ring_buffer_fd, [this](const kernel::DenialEvent& e) { OnEvent(e); });
  if (!reader.ok()) return reader.status();
  reader_.emplace(*std::move(reader));
  return loop.AddIo(reader_->epoll_fd(), EPOLLIN, [this](uint32_t) { (void)reader_->Drain(); });
}

std::string DenialLog::Describe(const kernel::DenialEvent& e) const {
  auto it = scopes_.find(e.scope_id);
  const std::string who =
      it == scopes_.end() ? absl::StrCat("scope ", e.scope_id)
                          : (it->second.kind == "host"
                                 ? std::string("host")
                                 : absl::StrCat("gate ", it->second.gate,
                                                it->second.kind == "service" ? " (service)" : ""));
  const char* proto = e.protocol == IPPROTO_TCP ? "tcp" : e.protocol == IPPROTO_UDP ? "udp" : "ip";
  std::string peer = e.remote.family == policy::Family::kIPv6
                         ? absl::StrCat("[", e.remote.ToString(), "]")
                         : e.remote.ToString();
  if (e.has_ports) absl::StrAppend(&peer, ":", e.remote_port);
  std::string rule;
  if (e.rule_id == GK_RULE_DEVICE) {
    rule = "arrived on another device than the gate's";
  } else if (e.rule_id == GK_RULE_NO_POLICY) {
    rule = "no policy installed";
  } else if (it != scopes_.end()) {
    const policy::Rule* r = it->second.policy.FindRule(e.rule_id);
    rule = r ? absl::StrCat(r->entry.origin.ToString(), r->entry.token) : "unknown rule";
  }
  return absl::StrCat(
      who, ": denied ", e.direction == kernel::Direction::kIngress ? "ingress " : "egress ", proto,
      " ", e.direction == kernel::Direction::kIngress ? "from " : "to ", peer,
      e.has_ports ? absl::StrCat(", local port ", e.local_port) : "", " (", rule, ")");
}

void DenialLog::OnEvent(const kernel::DenialEvent& e) {
  const std::string line = Describe(e);
  log_("<4>" + line);
  auto it = scopes_.find(e.scope_id);
  if (it == scopes_.end()) return;
  auto& recent = recent_[it->second.gate];
  recent.push_back(line);
  while (recent.size() > kRecentPerGate) recent.pop_front();
}

const policy::CompiledPolicy* DenialLog::FindPolicy(const std::string& gate,
                                                    const std::string& kind) const {
  for (const auto& [id, info] : scopes_) {
    if (info.kind == kind && (kind == "host" || info.gate == gate)) return &info.policy;
  }
  return nullptr;
}

nlohmann::json DenialLog::Recent(const std::string& gate) const {
  auto it = recent_.find(gate);
  if (it == recent_.end()) return nlohmann::json::array();
  // Not braces: nlohmann::json{vector} would be an array holding the array.
  return nlohmann::json(  // NOLINT(modernize-return-braced-init-list)
      std::vector<std::string>(it->second.begin(), it->second.end()));
}

}  // namespace gatekeeper::daemon
