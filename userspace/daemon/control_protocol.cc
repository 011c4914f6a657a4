#include "daemon/control_protocol.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gatekeeper::daemon {

RequestFrame FindRequestLine(absl::string_view received, size_t limit) {
  // Only the first limit+1 bytes matter: a newline later than that ends an oversized line.
  const absl::string_view window = received.substr(0, std::min(received.size(), limit + 1));
  const size_t newline = window.find('\n');
  if (newline != absl::string_view::npos) {
    return {RequestFrame::State::kComplete, received.substr(0, newline)};
  }
  if (received.size() > limit) return {RequestFrame::State::kTooLarge, {}};
  return {RequestFrame::State::kIncomplete, {}};
}

absl::StatusOr<nlohmann::json> ParseRequest(absl::string_view line) {
  nlohmann::json request;
  try {
    request = nlohmann::json::parse(line.begin(), line.end());
  } catch (const nlohmann::json::exception& e) {
    // parse_error for bad syntax, out_of_range for numbers like 1e999: either way the request is
    // malformed, never a reason for the daemon to die. what() starts with
    // "[json.exception.parse_error.101] ": noise for whoever reads the reply.
    absl::string_view why = e.what();
    if (const size_t end = why.find("] ");
        absl::StartsWith(why, "[json.") && end != absl::string_view::npos) {
      why.remove_prefix(end + 2);
    }
    return absl::InvalidArgumentError(absl::StrCat("malformed request: ", why));
  }
  if (!request.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed request: expected a JSON object, got ", request.type_name()));
  }
  const auto command = request.find("command");
  if (command == request.end()) {
    return absl::InvalidArgumentError(
        R"(malformed request: the object has no "command" (e.g. {"command":"status"}))");
  }
  if (!command->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed request: \"command\" must be a string, got ", command->type_name()));
  }
  return request;
}

nlohmann::json ErrorReply(absl::string_view message) {
  std::string text(message);
  return {{"error", std::move(text)}};
}

std::string TooLargeMessage(size_t limit) {
  return absl::StrCat("request too large (limit ", limit, " bytes)");
}

std::string SerializeReply(const nlohmann::json& reply) {
  return reply.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

void AppendSerialized(const nlohmann::json& value, std::string& out) {
  out += value.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

absl::Status AuthorizePeer(const PeerCredentials& peer, const ControlAccess& access) {
  if (peer.uid == 0 || peer.uid == access.daemon_euid) return absl::OkStatus();
  if (access.group.has_value() &&
      (peer.gid == *access.group ||
       std::find(peer.groups.begin(), peer.groups.end(), *access.group) != peer.groups.end())) {
    return absl::OkStatus();
  }
  std::string why = access.daemon_euid == 0
                        ? absl::StrCat("uid ", peer.uid, " is not root")
                        : absl::StrCat("uid ", peer.uid, " is neither root nor the daemon's uid ",
                                       access.daemon_euid);
  if (access.group.has_value()) {
    absl::StrAppend(&why, " and not in group ",
                    access.group_name.empty() ? absl::StrCat(*access.group) : access.group_name);
  } else {
    absl::StrAppend(&why, ", and gatekeeper.conf names no [Control] Group=");
  }
  return absl::PermissionDeniedError(why);
}

bool LogRateLimiter::Allow(absl::Time now, uint64_t* suppressed) {
  if (now - window_start_ >= interval_) {
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= burst_) {
    ++suppressed_;
    return false;
  }
  ++in_window_;
  if (suppressed != nullptr) *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace gatekeeper::daemon
