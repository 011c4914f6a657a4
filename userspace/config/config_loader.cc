// Loading from the file system: which files make up the configuration, and the checks across
// gates.
#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "config/file_reader.h"
#include "config/text_util.h"
#include "config/unit_lexer.h"

namespace gatekeeper::config {
namespace {

constexpr std::string_view kGateSuffix = ".gate";
constexpr std::string_view kDropInSuffix = ".conf";
constexpr std::string_view kHostFile = "gatekeeper.conf";

// One gate's or the host file's outcome, kept apart until the cross-gate checks have added to it.
struct Part {
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  std::optional<GateConfig> gate;
};

Diagnostic FileError(const std::string& path, const absl::Status& status) {
  return Diagnostic{Location{path, 1}, absl::StrCat("cannot read: ", status.message())};
}

// `missing_ok`: a file that does not exist is no error, just absent.
std::optional<SourceText> ReadSource(const std::string& path, std::vector<Diagnostic>& errors,
                                     bool missing_ok = false) {
  // One byte over the limit is read so that the lexer reports the size with a line number.
  absl::StatusOr<std::string> text = ReadBoundedFile(path, kMaxFileBytes);
  if (!text.ok()) {
    if (!missing_ok || text.status().code() != absl::StatusCode::kNotFound) {
      errors.push_back(FileError(path, text.status()));
    }
    return std::nullopt;
  }
  return SourceText{path, *std::move(text)};
}

Part LoadGate(const std::string& path, UserResolver& resolver) {
  Part part;
  std::optional<SourceText> main = ReadSource(path, part.errors);
  if (!main.has_value()) return part;

  std::vector<SourceText> dropins;
  std::vector<Diagnostic> dropin_errors;
  std::string dir = absl::StrCat(path, ".d");
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir, kDropInSuffix);
  if (names.ok()) {
    for (const std::string& name : *names) {
      std::optional<SourceText> dropin = ReadSource(JoinPath(dir, name), dropin_errors);
      if (dropin.has_value()) dropins.push_back(*std::move(dropin));
    }
  } else if (names.status().code() != absl::StatusCode::kNotFound) {
    dropin_errors.push_back(
        Diagnostic{Location{dir, 0},
                   absl::StrCat("cannot read drop-in directory: ", names.status().message())});
  }

  std::string name(BaseName(path));
  name.resize(name.size() - kGateSuffix.size());
  LoadResult result = ParseGate(name, *main, dropins, resolver);
  part.errors = std::move(result.errors);
  part.errors.insert(part.errors.end(), dropin_errors.begin(), dropin_errors.end());
  part.warnings = std::move(result.warnings);
  part.gate = std::move(result.config.gates.front());
  return part;
}

Part LoadHost(const std::string& path, UserResolver& resolver, HostConfig& host, bool missing_ok) {
  Part part;
  std::optional<SourceText> source = ReadSource(path, part.errors, missing_ok);
  if (!source.has_value()) return part;
  LoadResult result = ParseHostConfig(*source, resolver);
  host = std::move(result.config.host);
  part.errors = std::move(result.errors);
  part.warnings = std::move(result.warnings);
  return part;
}

// Two gates cannot bind the same endpoint; the later gate (by name) gets the error.
void CheckListenersAcrossGates(std::vector<Part>& parts) {
  absl::flat_hash_map<std::string, std::pair<const GateConfig*, const ListenSpec*>> seen;
  for (Part& part : parts) {
    if (!part.gate.has_value()) continue;
    for (const ListenSpec& spec : part.gate->socket.listen) {
      auto it = seen.find(EndpointKey(spec));
      if (it == seen.end()) continue;
      const auto [gate, other] = it->second;
      part.errors.push_back(Diagnostic{
          spec.where, absl::StrCat(Av(spec.KeyName()), "=: duplicate listener ", spec.ToString(),
                                   ": gate \"", absl::CHexEscape(gate->name),
                                   "\" already listens there (", other->where.ToString(), ")")});
    }
    // Within a gate duplicates are refused while parsing; the first of a gate's specs wins here.
    for (const ListenSpec& spec : part.gate->socket.listen) {
      seen.try_emplace(EndpointKey(spec), &*part.gate, &spec);
    }
  }
}

LoadResult Assemble(Part host_part, std::map<std::string, Part>&& gates) {
  std::vector<Part> parts;
  parts.reserve(gates.size());
  for (auto& [name, part] : gates) parts.push_back(std::move(part));
  CheckListenersAcrossGates(parts);

  LoadResult result;
  auto take = [&result](Part& part) {
    result.errors.insert(result.errors.end(), part.errors.begin(), part.errors.end());
    result.warnings.insert(result.warnings.end(), part.warnings.begin(), part.warnings.end());
  };
  take(host_part);
  for (Part& part : parts) {
    take(part);
    if (part.gate.has_value()) result.config.gates.push_back(*std::move(part.gate));
  }
  return result;
}

}  // namespace

LoadResult LoadConfigDir(const std::string& dir, UserResolver& resolver) {
  Part host_part;
  HostConfig host;
  std::map<std::string, Part> gates;
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir, kGateSuffix);
  if (!names.ok()) {
    host_part.errors.push_back(Diagnostic{
        Location{dir, 0},
        absl::StrCat("cannot read the configuration directory: ", names.status().message())});
    LoadResult result;
    result.errors = std::move(host_part.errors);
    return result;
  }
  host_part = LoadHost(JoinPath(dir, kHostFile), resolver, host, /*missing_ok=*/true);
  for (const std::string& name : *names) {
    gates.emplace(name.substr(0, name.size() - kGateSuffix.size()),
                  LoadGate(JoinPath(dir, name), resolver));
  }
  LoadResult result = Assemble(std::move(host_part), std::move(gates));
  result.config.host = std::move(host);
  return result;
}

LoadResult LoadFiles(const std::vector<std::string>& paths, UserResolver& resolver) {
  Part host_part;
  HostConfig host;
  std::optional<std::string> host_path;
  std::map<std::string, Part> gates;
  std::map<std::string, std::string> gate_paths;
  for (const std::string& path : paths) {
    std::string_view base = BaseName(path);
    if (base == kHostFile) {
      if (host_path.has_value()) {
        host_part.errors.push_back(
            Diagnostic{Location{path, 0}, absl::StrCat("only one gatekeeper.conf may be given; ",
                                                       *host_path, " is already loaded")});
        continue;
      }
      host_path = path;
      Part part = LoadHost(path, resolver, host, /*missing_ok=*/false);
      host_part.errors.insert(host_part.errors.end(), part.errors.begin(), part.errors.end());
      host_part.warnings.insert(host_part.warnings.end(), part.warnings.begin(),
                                part.warnings.end());
      continue;
    }
    if (base.size() <= kGateSuffix.size() || !base.ends_with(kGateSuffix)) {
      host_part.errors.push_back(
          Diagnostic{Location{path, 0},
                     "not a gate file (NAME.gate) or gatekeeper.conf; drop-ins "
                     "(NAME.gate.d/*.conf) are read with their gate"});
      continue;
    }
    std::string name(base.substr(0, base.size() - kGateSuffix.size()));
    if (auto [it, inserted] = gate_paths.emplace(name, path); !inserted) {
      host_part.errors.push_back(
          Diagnostic{Location{path, 0},
                     absl::StrCat("gate \"", name, "\" is already loaded from ", it->second)});
      continue;
    }
    gates.emplace(name, LoadGate(path, resolver));
  }
  LoadResult result = Assemble(std::move(host_part), std::move(gates));
  result.config.host = std::move(host);
  return result;
}

}  // namespace gatekeeper::config
