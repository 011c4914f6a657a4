// The [Service] keys of a gate file.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "config/credentials.h"
#include "config/gate_builder.h"
#include "config/text_util.h"
#include "config/values.h"
#include "config/words.h"

namespace gatekeeper::config {
namespace {

const absl::Duration kDefaultRestartSec = absl::Milliseconds(100);

// systemd's ExecStart= prefixes: "-" (ignore failure), "@" (own argv[0]), ":" (no variable
// expansion), "+", "!" and "!!" (privilege handling).
constexpr std::string_view kExecPrefixes = "-@:+!";

bool IsUnquotedSemicolon(std::string_view rest, size_t at) {
  size_t after = at + 1;
  return rest.size() > at && rest[at] == ';' && (rest.size() == after || IsWhitespace(rest[after]));
}

absl::StatusOr<std::vector<std::string>> ParseCommandLine(std::string_view text) {
  constexpr std::string_view kOneCommand =
      "a lone \";\" separates command lines, but a gate runs one command (write \\; for a "
      "literal semicolon)";
  std::string_view rest = text;
  absl::StatusOr<std::optional<std::string>> first = ExtractFirstWord(rest);
  if (!first.ok()) return first.status();
  if (!first->has_value() || (*first)->empty()) {
    return absl::InvalidArgumentError("empty executable path");
  }
  const std::string& path = **first;
  if (path == ";") return absl::InvalidArgumentError(std::string(kOneCommand));
  if (size_t n = path.find_first_not_of(kExecPrefixes); n != 0) {
    return absl::UnimplementedError(absl::StrCat(
        "the prefix ", Quote(path.substr(0, n)),
        " is not supported yet; start the command line with the program's absolute path"));
  }
  if (absl::Status status = CheckAbsolutePath(path); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the program must be given by its absolute path: ", status.message()));
  }
  if (path.back() == '/') {
    return absl::InvalidArgumentError(absl::StrCat(Quote(path), " names a directory"));
  }

  std::vector<std::string> argv = {path};
  while (true) {
    size_t start = rest.find_first_not_of(kWhitespace);
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    if (IsUnquotedSemicolon(rest, 0)) return absl::InvalidArgumentError(std::string(kOneCommand));
    // As systemd: "\;" on its own is a literal ";" argument (the escape is not a C escape).
    if (rest.substr(0, 2) == "\\;" && (rest.size() == 2 || IsWhitespace(rest[2]))) {
      argv.emplace_back(";");
      rest.remove_prefix(2);
      continue;
    }
    absl::StatusOr<std::optional<std::string>> word = ExtractFirstWord(rest);
    if (!word.ok()) return word.status();
    if (!word->has_value()) break;
    argv.push_back(**std::move(word));
  }
  return argv;
}

absl::Status AddEnvironment(std::vector<std::string>& env, const std::string& value) {
  if (value.empty()) {
    env.clear();
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> words = SplitWords(value);
  if (!words.ok()) return words.status();
  // Checked first, so that a bad word leaves the list as it was.
  for (const std::string& word : *words) {
    size_t eq = word.find('=');
    if (eq == std::string::npos || !IsEnvName(std::string_view(word).substr(0, eq))) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(word), " is not an assignment VAR=VALUE (VAR: letters, digits, _)"));
    }
    if (!IsValidUtf8(word)) {
      return absl::InvalidArgumentError(absl::StrCat(Quote(word), " is not valid UTF-8"));
    }
  }
  for (std::string& word : *words) {
    std::string_view name = std::string_view(word).substr(0, word.find('=') + 1);
    auto same = std::find_if(env.begin(), env.end(),
                             [name](const std::string& e) { return e.starts_with(name); });
    if (same != env.end()) {
      *same = std::move(word);
    } else {
      env.push_back(std::move(word));
    }
  }
  return absl::OkStatus();
}

absl::Status SetRestart(Restart& field, const std::string& value) {
  if (value.empty() || value == "no") {
    field = Restart::kNo;
  } else if (value == "on-failure") {
    field = Restart::kOnFailure;
  } else if (value == "always") {
    field = Restart::kAlways;
  } else if (value == "on-success" || value == "on-abnormal" || value == "on-watchdog" ||
             value == "on-abort") {
    return absl::UnimplementedError(
        absl::StrCat(Quote(value), " is not supported yet; use no, on-failure or always"));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(value), " is not one of no, on-failure, always"));
  }
  return absl::OkStatus();
}

absl::Status SetStart(Start& field, const std::string& value) {
  if (value.empty() || value == "on-connection") {
    field = Start::kOnConnection;
  } else if (value == "immediately") {
    field = Start::kImmediately;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(value), " is not one of on-connection, immediately"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<KeyHandler> ServiceKeys(GateBuilder& b) {
  ServiceConfig& s = b.service;
  auto keys = std::vector<KeyHandler>{
      {"Service", "ExecStart", true,
       [&b, &s](const Assignment& a, const std::string& v) {
         if (v.empty()) {
           s.exec_start.clear();
           b.exec_start_failed = false;
           return absl::OkStatus();
         }
         if (!s.exec_start.empty()) {
           return absl::InvalidArgumentError(absl::StrCat(
               "already set at ", s.exec_start_where.ToString(),
               "; a gate runs one command line (to replace it, e.g. in a drop-in, first reset it "
               "with an empty ExecStart=)"));
         }
         absl::StatusOr<std::vector<std::string>> argv = ParseCommandLine(v);
         if (!argv.ok()) {
           b.exec_start_failed = true;
           return argv.status();
         }
         s.exec_start = *std::move(argv);
         s.exec_start_where = a.where;
         return absl::OkStatus();
       }},
      {"Service", "User", true,
       [&b, &s](const Assignment&, const std::string& v) -> absl::Status {
         if (v.empty()) {
           s.user.reset();
           return absl::OkStatus();
         }
         absl::StatusOr<UserRef> user = ResolveUser(v, b.resolver);
         if (!user.ok()) return user.status();
         s.user = *std::move(user);
         return absl::OkStatus();
       }},
      {"Service", "Group", true,
       [&b, &s](const Assignment&, const std::string& v) -> absl::Status {
         if (v.empty()) {
           s.group.reset();
           return absl::OkStatus();
         }
         absl::StatusOr<GroupRef> group = ResolveGroup(v, b.resolver);
         if (!group.ok()) return group.status();
         s.group = *std::move(group);
         return absl::OkStatus();
       }},
      {"Service", "Environment", true,
       [&s](const Assignment&, const std::string& v) { return AddEnvironment(s.environment, v); }},
      {"Service", "WorkingDirectory", true,
       [&s](const Assignment&, const std::string& v) {
         if (!v.empty()) {
           if (absl::Status status = CheckAbsolutePath(v); !status.ok()) return status;
         }
         s.working_directory = v;
         return absl::OkStatus();
       }},
      {"Service", "Restart", false,
       [&s](const Assignment&, const std::string& v) { return SetRestart(s.restart, v); }},
      {"Service", "RestartSec", false,
       [&s](const Assignment&, const std::string& v) -> absl::Status {
         if (v.empty()) {
           s.restart_sec = kDefaultRestartSec;
           return absl::OkStatus();
         }
         absl::StatusOr<absl::Duration> span = ParseTimeSpan(v);
         if (!span.ok()) return span.status();
         s.restart_sec = *span;
         return absl::OkStatus();
       }},
      {"Service", "Start", false,
       [&b, &s](const Assignment& a, const std::string& v) {
         absl::Status status = SetStart(s.start, v);
         if (status.ok()) {
           b.start_where =
               s.start == Start::kImmediately ? std::optional<Location>(a.where) : std::nullopt;
         }
         return status;
       }},
      {"Service", "StandardInput", false,
       [&b, &s](const Assignment& a, const std::string& v) -> absl::Status {
         if (v.empty() || v == "null") {
           s.standard_input = StandardInput::kNull;
           b.standard_input_where.reset();
         } else if (v == "socket") {
           s.standard_input = StandardInput::kSocket;
           b.standard_input_where = a.where;
         } else {
           return absl::InvalidArgumentError(
               absl::StrCat(Quote(v), " is not supported; use null or socket"));
         }
         return absl::OkStatus();
       }},
  };
  for (std::string_view key : {"IPAddressAllow", "IPAddressDeny"}) {
    keys.push_back({"Service", key, false, [&s](const Assignment& a, const std::string& v) {
                      return AssignAddressList(s.lists, a, v);
                    }});
  }
  // Every key but ExecStart= is remembered, for the "[Service] without ExecStart=" check.
  for (KeyHandler& k : keys) {
    if (k.key == "ExecStart") continue;
    k.apply = [&b, inner = std::move(k.apply)](const Assignment& a, const std::string& v) {
      if (!v.empty()) {
        b.service_key_where = a.where;
        b.service_key = a.key;
      }
      return inner(a, v);
    };
  }
  return keys;
}

}  // namespace gatekeeper::config
