#include "daemon/denial_log.h"

#include <netinet/in.h>
#include <time.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gate_abi.h"

namespace gatekeeper::daemon {
namespace {

const char* ProtocolName(uint8_t protocol) {
  return protocol == IPPROTO_TCP ? "tcp" : protocol == IPPROTO_UDP ? "udp" : "ip";
}

// "ingress tcp from 198.51.100.3", as in the event lines, without the port: floods vary it.
std::string KindName(kernel::Direction direction, uint8_t protocol, const policy::Address& peer) {
  const bool ingress = direction == kernel::Direction::kIngress;
  return absl::StrCat(ingress ? "ingress " : "egress ", ProtocolName(protocol),
                      ingress ? " from " : " to ", peer.ToString());
}

}  // namespace

DenialLog::DenialLog(Logger log, Clock clock) : log_(std::move(log)), clock_(std::move(clock)) {}

absl::Time DenialLog::MonotonicNow() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::UnixEpoch() + absl::DurationFromTimespec(ts);
}

void DenialLog::AddScope(uint32_t scope_id, std::string gate, std::string kind,
                         policy::SharedPolicy policy) {
  if (!policy) policy = std::make_shared<const policy::CompiledPolicy>();
  scopes_[scope_id] = ScopeInfo{std::move(gate), std::move(kind), std::move(policy)};
}

absl::StatusOr<EventSource> DenialLog::Attach(EventLoop& loop, int ring_buffer_fd) {
  auto reader = kernel::DenialEventReader::Create(
      ring_buffer_fd, [this](const kernel::DenialEvent& e) { OnEvent(e, clock_()); });
  if (!reader.ok()) return reader.status();
  reader_.emplace(*std::move(reader));
  UseLoop(loop);
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
    const policy::Rule* r = it->second.policy->FindRule(e.rule_id);
    rule = r ? absl::StrCat(r->entry->origin.ToString(), r->entry->token) : "unknown rule";
  }
  return absl::StrCat(
      who, ": denied ", e.direction == kernel::Direction::kIngress ? "ingress " : "egress ",
      ProtocolName(e.protocol), " ", e.direction == kernel::Direction::kIngress ? "from " : "to ",
      peer, e.has_ports ? absl::StrCat(", local port ", e.local_port) : "", " (", rule, ")");
}

DenialLog::GateLog& DenialLog::LogFor(const kernel::DenialEvent& e, absl::Time now) {
  auto it = scopes_.find(e.scope_id);
  // Events of unregistered scopes should not happen; they share one bucket so they stay bounded.
  const std::string key = it == scopes_.end() ? std::string() : it->second.gate;
  auto [g, inserted] = gates_.try_emplace(key);
  if (inserted) {
    g->second.who = it == scopes_.end()         ? std::string("unregistered scopes")
                    : it->second.kind == "host" ? std::string("host")
                                                : absl::StrCat("gate ", key);
    g->second.refilled = now;
  }
  return g->second;
}

void DenialLog::OnEvent(const kernel::DenialEvent& e, absl::Time now) {
  GateLog& g = LogFor(e, now);
  ++g.counters.received;
  const std::string line = Describe(e);
  if (scopes_.contains(e.scope_id)) {
    g.recent.push_back(line);
    while (g.recent.size() > kRecentPerGate) g.recent.pop_front();
  }

  // max(): a clock that went back must not drain the bucket.
  g.tokens =
      std::min(kBurstLines,
               g.tokens + std::max(0.0, absl::ToDoubleSeconds(now - g.refilled)) * kLinesPerSecond);
  g.refilled = std::max(g.refilled, now);
  // Without an event loop (or a late timer) the summary still comes, with the next event.
  const bool overdue = g.pending > 0 && now >= g.pending_since + kSummaryInterval;
  if (g.tokens >= 1) {
    // A full bucket means no line for a while: the flood is over, so close its window now, before
    // the line, rather than summarising a burst that is long gone after newer lines.
    if (g.pending > 0 && (overdue || g.tokens >= kBurstLines)) Summarize(g, now);
    g.tokens -= 1;
    ++g.counters.logged;
    log_("<4>" + line);
    return;
  }
  if (overdue) Summarize(g, now);
  ++g.counters.suppressed;
  if (g.pending++ == 0) {
    g.pending_since = now;
    ArmFlushTimer();
  }
  for (Kind& k : g.kinds) {
    if (k.direction == e.direction && k.protocol == e.protocol && k.remote == e.remote) {
      ++k.count;
      return;
    }
  }
  if (g.kinds.size() < kMaxKinds) g.kinds.push_back({e.direction, e.protocol, e.remote, 1});
}

void DenialLog::Summarize(GateLog& g, absl::Time now) {
  std::string line =
      absl::StrFormat("<4>%s: %d more %s suppressed in the last %.1f s", g.who, g.pending,
                      g.pending == 1 ? "denial" : "denials",
                      absl::ToDoubleSeconds(std::max(absl::ZeroDuration(), now - g.pending_since)));
  // The count of a tracked kind is exact (kinds are tracked from their first event on); whether
  // it is the most frequent one is best effort once more than kMaxKinds showed up.
  auto top = std::max_element(g.kinds.begin(), g.kinds.end(),
                              [](const Kind& a, const Kind& b) { return a.count < b.count; });
  if (top != g.kinds.end()) {
    const std::string kind = KindName(top->direction, top->protocol, top->remote);
    if (top->count == g.pending) {
      absl::StrAppend(&line, ", all ", kind);
    } else {
      absl::StrAppend(&line, ", ", top->count, " of them ", kind);
    }
  }
  log_(line);
  g.pending = 0;
  g.kinds.clear();
}

void DenialLog::Flush(absl::Time now) {
  // Timers may fire a hair early in our clock's terms; a window that ends within the slack is due.
  constexpr absl::Duration kSlack = absl::Milliseconds(10);
  for (auto& [gate, g] : gates_) {
    if (g.pending > 0 && now + kSlack >= g.pending_since + kSummaryInterval) Summarize(g, now);
  }
  ArmFlushTimer();
}

void DenialLog::ArmFlushTimer() {
  if (loop_ == nullptr || flush_timer_) return;
  std::optional<absl::Time> due;
  for (const auto& [gate, g] : gates_) {
    if (g.pending > 0) due = std::min(due.value_or(absl::InfiniteFuture()), g.pending_since);
  }
  if (!due) return;  // idle: no timer
  // Relative to the clock's present, not to the event's time: the loop's timers run on it.
  auto timer = loop_->AddTimer(*due + kSummaryInterval - clock_(), [this] {
    flush_timer_.reset();
    Flush(clock_());
  });
  if (timer.ok()) {
    flush_timer_ = *std::move(timer);
  } else {
    // The summaries then come with the next event of the gate.
    log_(absl::StrCat("<3>denial log: cannot arm the summary timer: ", timer.status().message()));
  }
}

DenialCounters DenialLog::Counters(const std::string& gate) const {
  auto it = gates_.find(gate);
  return it == gates_.end() ? DenialCounters{} : it->second.counters;
}

std::map<std::string, DenialCounters> DenialLog::AllCounters() const {
  std::map<std::string, DenialCounters> out;
  for (const auto& [gate, g] : gates_) out[gate] = g.counters;
  return out;
}

const policy::CompiledPolicy* DenialLog::FindPolicy(const std::string& gate,
                                                    const std::string& kind) const {
  for (const auto& [id, info] : scopes_) {
    if (info.kind == kind && (kind == "host" || info.gate == gate)) return info.policy.get();
  }
  return nullptr;
}

nlohmann::json DenialLog::Recent(const std::string& gate) const {
  auto it = gates_.find(gate);
  if (it == gates_.end()) return nlohmann::json::array();
  // Not braces: nlohmann::json{vector} would be an array holding the array.
  return nlohmann::json(  // NOLINT(modernize-return-braced-init-list)
      std::vector<std::string>(it->second.recent.begin(), it->second.recent.end()));
}

}  // namespace gatekeeper::daemon
