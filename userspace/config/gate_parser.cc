// A gate from its texts: lexing, the key tables, and the checks that need the whole gate.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "config/gate_builder.h"
#include "config/gate_name.h"
#include "config/key_dispatch.h"
#include "config/text_util.h"
#include "config/unit_lexer.h"

namespace gatekeeper::config {
namespace {

std::optional<Location> FirstSection(const std::vector<UnitText>& units, std::string_view name) {
  for (const UnitText& unit : units) {
    for (const SectionHeader& header : unit.sections) {
      if (header.name == name) return header.where;
    }
  }
  return std::nullopt;
}

void CheckListeners(GateBuilder& b, Diagnostics& diags) {
  const SocketConfig& s = b.gate.socket;
  if (s.listen.empty() && !b.listen_failed) {
    diags.Error(b.gate.where,
                "the gate has nothing to listen on: add ListenStream= or ListenDatagram= to "
                "[Socket]");
  }
  if (b.accept_where.has_value()) {
    for (const ListenSpec& l : s.listen) {
      if (l.type != ListenSpec::Type::kDatagram) continue;
      diags.Error(
          *b.accept_where,
          absl::StrCat("Accept=yes cannot be used with a datagram listener (ListenDatagram=",
                       l.ToString(), " at ", l.where.ToString(), ")"));
      break;
    }
  }
  bool has_unix = std::any_of(s.listen.begin(), s.listen.end(), [](const ListenSpec& l) {
    return l.kind == ListenSpec::Kind::kUnix;
  });
  if (!has_unix) {
    for (auto [where, key] : {std::pair{&b.socket_user_where, "SocketUser"},
                              std::pair{&b.socket_group_where, "SocketGroup"},
                              std::pair{&b.socket_mode_where, "SocketMode"}}) {
      if (!where->has_value()) continue;
      diags.Error(**where, absl::StrCat(key,
                                        "= only applies to unix socket listeners (a /path "
                                        "in ListenStream= or ListenDatagram=), and this gate "
                                        "has none"));
    }
  }
}

// systemd reads a whole word "$..." (but not "${" or "$$") as a variable to split into words,
// taking the whole rest as its name; with no valid name the word silently becomes nothing when
// the service starts. The activation code does the same, so the mistake is pointed out here.
void WarnAboutDroppedWords(const ServiceConfig& s, Diagnostics& diags) {
  for (size_t i = 1; i < s.exec_start.size(); ++i) {
    const std::string& word = s.exec_start[i];
    if (!word.starts_with('$') || word.starts_with("${") || word.starts_with("$$")) continue;
    const std::string_view name = std::string_view(word).substr(1);
    if (IsEnvName(name)) continue;
    diags.Warning(s.exec_start_where,
                  absl::StrCat("ExecStart=: the argument ", Quote(word),
                               " will be left out: a whole word starting with \"$\" is a variable "
                               "split into words, and ",
                               Quote(name),
                               " is no variable name (write \"$$\" for a literal \"$\", or "
                               "\"${NAME}\" inside a word)"));
  }
}

void CheckService(GateBuilder& b, const std::vector<UnitText>& units, Diagnostics& diags) {
  if (b.service.exec_start.empty()) {
    if (b.exec_start_failed) return;  // its error says what is wrong
    if (b.service_key_where.has_value()) {
      Location where = FirstSection(units, "Service").value_or(*b.service_key_where);
      diags.Error(where, absl::StrCat("[Service] has no ExecStart= but sets ", b.service_key, "= (",
                                      b.service_key_where->ToString(),
                                      "); without ExecStart= the gate runs no service"));
    }
    if (b.accept_where.has_value()) {
      diags.Error(*b.accept_where,
                  "Accept=yes needs a service to hand each connection to: add [Service] "
                  "ExecStart=");
    }
    return;
  }
  if (b.start_where.has_value() && b.accept_where.has_value()) {
    diags.Error(*b.start_where, absl::StrCat("Start=immediately cannot be used with Accept=yes (",
                                             b.accept_where->ToString(),
                                             "): a process is started for each connection"));
  }
  if (b.standard_input_where.has_value() && !b.accept_where.has_value()) {
    diags.Error(*b.standard_input_where,
                "StandardInput=socket needs Accept=yes: only a single connection can be a "
                "process's stdin");
  }
  WarnAboutDroppedWords(b.service, diags);
  b.gate.service = std::move(b.service);
}

}  // namespace

LoadResult ParseGate(const std::string& name, const SourceText& main,
                     const std::vector<SourceText>& dropins, UserResolver& resolver) {
  Diagnostics diags;
  GateBuilder b(resolver);
  b.gate.name = name;
  b.gate.file = main.file;
  b.gate.socket.fd_name = name;
  if (absl::Status status = CheckGateName(name); !status.ok()) {
    diags.Error(Location{main.file, 1}, std::string(status.message()));
  }

  std::vector<UnitText> units;
  units.push_back(LexUnit(main.file, main.text, diags));
  for (const SourceText& dropin : dropins) {
    units.push_back(LexUnit(dropin.file, dropin.text, diags));
  }
  b.gate.where = FirstSection(units, "Socket").value_or(Location{main.file, 1});
  ReserveAddressLists(units, "Socket", b.gate.socket.lists);
  ReserveAddressLists(units, "Service", b.service.lists);

  std::vector<KeyHandler> keys = SocketKeys(b);
  std::vector<KeyHandler> service_keys = ServiceKeys(b);
  keys.insert(keys.end(), std::make_move_iterator(service_keys.begin()),
              std::make_move_iterator(service_keys.end()));
  for (const UnitText& unit : units) ApplyUnit(unit, keys, name, diags);

  CheckListeners(b, diags);
  CheckService(b, units, diags);

  LoadResult result;
  result.config.gates.push_back(std::move(b.gate));
  diags.Finish(result.errors, result.warnings);
  return result;
}

}  // namespace gatekeeper::config
