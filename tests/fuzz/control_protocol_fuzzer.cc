// Feeds arbitrary bytes to the kernel-free half of the control socket, as a client would send
// them, and checks what it promises:
//   - framing: a request line ends at the first newline within the limit; anything longer is
//     refused, whatever the limit and however the bytes are split into reads;
//   - validation: a request is a JSON object with a string "command", else an InvalidArgument
//     "malformed request: ..." without the JSON library's exception tag; nothing throws (a
//     number out of range, such as 1e999, made ParseRequest throw: corpus entry
//     "regress_number_overflow");
//   - replies: whatever goes into a reply (the client's own bytes included), the serialized reply
//     is one line of valid UTF-8 that parses back as the same JSON;
//   - who may connect (AuthorizePeer) and the log rate limit, on credentials and times made from
//     the input.
// The handler step mirrors how the daemon reads request fields (Daemon::HandleControl) and how
// ControlServer turns a handler's JSON exception into an error reply.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "config/text_util.h"
#include "daemon/control_protocol.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"

namespace gatekeeper::daemon {
namespace {

using State = RequestFrame::State;

// control_protocol.h speaks absl::string_view, the UTF-8 check std::string_view.
bool IsValidUtf8(absl::string_view text) {
  return config::IsValidUtf8(std::string_view(text.data(), text.size()));
}

// A small deterministic generator for the split into reads and the made-up credentials.
class Bits {
 public:
  explicit Bits(absl::string_view input)
      : state_(std::hash<std::string_view>()(std::string_view(input.data(), input.size())) | 1) {}
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }

 private:
  uint64_t state_;
};

// FindRequestLine against its definition.
RequestFrame CheckFrame(absl::string_view received, size_t limit) {
  const RequestFrame frame = FindRequestLine(received, limit);
  const size_t newline = received.find('\n');
  if (newline != absl::string_view::npos && newline <= limit) {
    FUZZ_CHECK(frame.state == State::kComplete);
    FUZZ_CHECK(frame.line.size() == newline);
    FUZZ_CHECK(frame.line.data() == received.data());  // a view into what was received
    FUZZ_CHECK(frame.line.find('\n') == absl::string_view::npos);
  } else if (received.size() > limit) {
    FUZZ_CHECK(frame.state == State::kTooLarge);  // oversized: always refused
    FUZZ_CHECK(frame.line.empty());
  } else {
    FUZZ_CHECK(frame.state == State::kIncomplete);
    FUZZ_CHECK(frame.line.empty());
  }
  return frame;
}

// What ControlServer::ReadRequest sees when the bytes arrive in reads of arbitrary sizes: the
// verdict after the first read that settles it must be the verdict on the whole input.
void CheckChunkedFraming(absl::string_view input, size_t limit, const RequestFrame& whole,
                         Bits& bits) {
  std::string in;
  size_t pos = 0;
  RequestFrame frame;
  while (pos < input.size()) {
    const size_t n = std::min<size_t>(input.size() - pos, 1 + bits.Next() % 256);
    in.append(input.data() + pos, n);
    pos += n;
    frame = FindRequestLine(in, limit);
    if (frame.state != State::kIncomplete) break;
  }
  FUZZ_CHECK(frame.state == whole.state);
  if (frame.state == State::kComplete) FUZZ_CHECK(frame.line == whole.line);
}

// The serialized reply: one line of valid UTF-8 that parses back to `reply` (strings that were not
// UTF-8 come back with replacement characters instead).
void CheckReply(const nlohmann::json& reply, bool strings_valid) {
  std::string text;
  try {
    text = SerializeReply(reply);
  } catch (...) {
    FUZZ_CHECK(!"SerializeReply threw");
  }
  FUZZ_CHECK(!text.empty() && text.back() == '\n');
  const absl::string_view line(text.data(), text.size() - 1);
  FUZZ_CHECK(IsValidUtf8(line));
  FUZZ_CHECK(std::none_of(line.begin(), line.end(),
                          [](char c) { return static_cast<unsigned char>(c) < 0x20; }));
  const nlohmann::json again =
      nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!again.is_discarded());
  FUZZ_CHECK(again.type() == reply.type());
  if (strings_valid) FUZZ_CHECK(again == reply);
}

std::string ErrorOf(const nlohmann::json& reply) {
  FUZZ_CHECK(reply.is_object() && reply.size() == 1 && reply.contains("error"));
  FUZZ_CHECK(reply["error"].is_string());
  return reply["error"].get<std::string>();
}

// A handler that reads the fields the daemon reads, with the types it expects, and answers with
// the client's strings in the reply. Wrong types throw nlohmann::json::type_error, which
// ControlServer::Handle turns into an error reply.
nlohmann::json Handle(const nlohmann::json& request) {
  const std::string command = request["command"].get<std::string>();
  try {
    const std::string name = request.value("command", "");
    if (name == "explain") {
      return {{"address", request.value("address", "")},
              {"host", request.value("host", false)},
              {"gate", request.value("gate", "")}};
    }
    if (name == "status") return {{"gates", nlohmann::json::array({request.value("gate", "")})}};
    return {{"error", absl::StrCat("unknown command \"", name, "\"")}};
  } catch (const nlohmann::json::exception& e) {
    return ErrorReply(absl::StrCat("internal error while handling \"", command, "\": ", e.what()));
  }
}

void CheckRequest(absl::string_view line) {
  absl::StatusOr<nlohmann::json> request;
  try {
    request = ParseRequest(line);
  } catch (...) {
    FUZZ_CHECK(!"ParseRequest threw");
  }
  if (!request.ok()) {
    FUZZ_CHECK(request.status().code() == absl::StatusCode::kInvalidArgument);
    const absl::string_view message = request.status().message();
    FUZZ_CHECK(absl::StartsWith(message, "malformed request: "));
    FUZZ_CHECK(!absl::StartsWith(message, "malformed request: [json.exception"));
    const nlohmann::json reply = ErrorReply(message);
    FUZZ_CHECK(ErrorOf(reply) == message);
    // The parser's message may quote the client's bytes, which need not be UTF-8.
    CheckReply(reply, IsValidUtf8(message));
    return;
  }
  FUZZ_CHECK(request->is_object());
  FUZZ_CHECK(request->contains("command") && (*request)["command"].is_string());
  // The JSON parser only accepts UTF-8, so even the strict serializer cannot fail on the command,
  // which replies and log lines quote. (Not the whole request: serializing is recursive, and a
  // request may nest thousands deep; the daemon never serializes a request.)
  try {
    (void)nlohmann::json((*request)["command"]).dump();
  } catch (...) {
    FUZZ_CHECK(!"a parsed command does not serialize");
  }
  const nlohmann::json reply = Handle(*request);
  CheckReply(reply, /*strings_valid=*/true);
}

void CheckAuthorize(Bits& bits) {
  const uint64_t r = bits.Next();
  // Small ids, so that the interesting coincidences (root, same uid, the group) happen often.
  auto id = [](uint64_t v) { return static_cast<uint32_t>(v % 4 == 0 ? 0 : v % 8); };
  PeerCredentials peer{.pid = 1, .uid = id(r), .gid = id(r >> 8), .groups = {}};
  for (uint64_t n = (r >> 16) % 4; n > 0; --n) peer.groups.push_back(id(bits.Next()));
  ControlAccess access{.daemon_euid = id(r >> 24), .group = std::nullopt, .group_name = {}};
  if ((r >> 32) % 2 == 1) {
    access.group = id(r >> 40);
    if ((r >> 48) % 2 == 1) access.group_name = "adm";
  }
  const absl::Status status = AuthorizePeer(peer, access);
  const bool in_group =
      access.group.has_value() &&
      (peer.gid == *access.group ||
       std::find(peer.groups.begin(), peer.groups.end(), *access.group) != peer.groups.end());
  const bool allowed = peer.uid == 0 || peer.uid == access.daemon_euid || in_group;
  FUZZ_CHECK(status.ok() == allowed);
  if (!allowed) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kPermissionDenied);
    FUZZ_CHECK(absl::StartsWith(status.message(), absl::StrCat("uid ", peer.uid, " ")));
  }
}

// At most `burst` lines per window, so at most 2 * burst within any stretch of one interval; the
// count of held-back events handed out is exact.
void CheckRateLimiter(absl::string_view input) {
  const absl::Duration interval = absl::Milliseconds(100);
  const int burst = input.empty() ? 1 : 1 + static_cast<unsigned char>(input[0]) % 5;
  LogRateLimiter limiter(interval, burst);
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  std::deque<absl::Time> allowed;
  uint64_t held_back = 0;
  for (size_t i = 1; i < input.size() && i < 512; ++i) {
    now += absl::Milliseconds(static_cast<unsigned char>(input[i]) % 40);
    uint64_t suppressed = ~uint64_t{0};
    if (limiter.Allow(now, &suppressed)) {
      FUZZ_CHECK(suppressed == held_back);
      held_back = 0;
      allowed.push_back(now);
      while (now - allowed.front() >= interval) allowed.pop_front();
      FUZZ_CHECK(allowed.size() <= static_cast<size_t>(2 * burst));
    } else {
      FUZZ_CHECK(suppressed == ~uint64_t{0});  // untouched
      ++held_back;
    }
  }
}

}  // namespace
}  // namespace gatekeeper::daemon

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatekeeper::daemon;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  Bits bits(input);

  // Framing, with the daemon's limit and with limits around the input's own size and newline;
  // split into reads for two of them (the others would only slow the fuzzer down).
  const size_t newline = input.find('\n');
  const size_t random_limit = bits.Next() % (size + 2);
  for (size_t limit : {kMaxRequestBytes, random_limit, size_t{0}, size / 2, newline, newline - 1}) {
    if (limit == absl::string_view::npos || limit + 1 == 0) continue;
    const RequestFrame whole = CheckFrame(input, limit);
    if (limit == kMaxRequestBytes || limit == random_limit) {
      CheckChunkedFraming(input, limit, whole, bits);
    }
  }
  // Oversized for real: the input repeated past 64 KiB. Without a newline it must be refused.
  if (newline == absl::string_view::npos && size > 0) {
    std::string big;
    big.reserve(kMaxRequestBytes + size + 1);
    while (big.size() <= kMaxRequestBytes) big.append(input.data(), input.size());
    FUZZ_CHECK(FindRequestLine(big).state == RequestFrame::State::kTooLarge);
    CheckReply(ErrorReply(TooLargeMessage()), true);
  }

  // What the server does with a complete line: validate, handle, reply.
  const RequestFrame frame = FindRequestLine(input);
  if (frame.state == RequestFrame::State::kComplete) CheckRequest(frame.line);
  // The whole input as a request too (with newlines and all), and as the text of a reply: the
  // worst case for the reply writer is a message quoting raw client bytes.
  CheckRequest(input);
  const std::string raw(input);
  const bool raw_valid = IsValidUtf8(raw);
  CheckReply(ErrorReply(raw), raw_valid);
  CheckReply(nlohmann::json{{raw, nlohmann::json::array({raw, 1, nullptr})}}, raw_valid);

  CheckAuthorize(bits);
  CheckRateLimiter(input);
  return 0;
}
