// Feeds arbitrary text to the gate-file parser and checks what it promises: every diagnostic is
// one printable line that points into a file that exists at a line that exists, errors are
// capped per file, parsing is deterministic, and a gate without errors is usable (listeners that
// round-trip and do not collide, an absolute program path, valid names).
//
// The input is split at lines "#---" into the main file and up to four drop-ins; the main text is
// also parsed as gatekeeper.conf, and the first line goes through the value parsers on its own.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/listen_spec.h"
#include "config/text_util.h"
#include "config/values.h"
#include "config/words.h"
#include "tests/fuzz/fuzz_check.h"

namespace gatekeeper::config {
namespace {

constexpr std::string_view kSeparator = "\n#---\n";
constexpr size_t kMaxDropIns = 4;

class FuzzResolver : public UserResolver {
 public:
  std::optional<uid_t> Uid(std::string_view name) override {
    if (name == "root") return 0;
    if (name == "www-data") return 33;
    return std::nullopt;
  }
  std::optional<gid_t> Gid(std::string_view name) override {
    if (name == "root") return 0;
    if (name == "adm") return 4;
    return std::nullopt;
  }
};

// The number of lines the lexer can see in `text`: "\n", "\r\n" and "\r" each end one.
int LineCount(std::string_view text) {
  int lines = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'))) {
      ++lines;
    }
  }
  return lines;
}

void CheckDiagnostics(const std::vector<Diagnostic>& diags, const std::map<std::string, int>& files,
                      bool capped) {
  std::map<std::string, int> per_file;
  for (const Diagnostic& d : diags) {
    auto file = files.find(d.where.file);
    FUZZ_CHECK(file != files.end());
    FUZZ_CHECK(d.where.line >= 1 && d.where.line <= file->second);
    FUZZ_CHECK(!d.message.empty());
    // `gatekeeper check` prints one diagnostic per line, readable on any terminal.
    FUZZ_CHECK(IsValidUtf8(d.message));
    FUZZ_CHECK(std::none_of(d.message.begin(), d.message.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    }));
    ++per_file[d.where.file];
  }
  if (!capped) return;
  for (const auto& [file, count] : per_file) {
    FUZZ_CHECK(count <= Diagnostics::kMaxErrorsPerFile + 1);
  }
}

void CheckListen(const ListenSpec& spec) {
  absl::StatusOr<ListenSpec> again = ParseListenSpec(spec.type, spec.ToString());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == spec);
  FUZZ_CHECK(again->ToString() == spec.ToString());
  switch (spec.kind) {
    case ListenSpec::Kind::kAnyAddress:
      FUZZ_CHECK(spec.port != 0 && !spec.address.has_value() && spec.path.empty());
      break;
    case ListenSpec::Kind::kInet:
      FUZZ_CHECK(spec.port != 0 && spec.address.has_value() && spec.path.empty());
      break;
    case ListenSpec::Kind::kUnix:
      FUZZ_CHECK(spec.port == 0 && !spec.address.has_value() && spec.path.front() == '/');
      FUZZ_CHECK(spec.path.size() <= 107 && spec.path.find("//") == std::string::npos);
      break;
  }
}

void CheckGoodGate(const GateConfig& gate, const std::map<std::string, int>& files) {
  const SocketConfig& s = gate.socket;
  FUZZ_CHECK(!s.listen.empty());
  for (size_t i = 0; i < s.listen.size(); ++i) {
    CheckListen(s.listen[i]);
    FUZZ_CHECK(files.count(s.listen[i].where.file) == 1);
    for (size_t j = 0; j < i; ++j) FUZZ_CHECK(!SameEndpoint(s.listen[i], s.listen[j]));
    if (s.accept) FUZZ_CHECK(s.listen[i].type == ListenSpec::Type::kStream);
  }
  FUZZ_CHECK(s.bind_to_device.empty() || CheckInterfaceName(s.bind_to_device).ok());
  FUZZ_CHECK(CheckFdName(s.fd_name).ok());
  FUZZ_CHECK(s.max_connections > 0);
  FUZZ_CHECK(s.socket_mode <= 07777);
  if (s.accept) FUZZ_CHECK(gate.service.has_value());
  if (!gate.service.has_value()) return;
  const ServiceConfig& svc = *gate.service;
  FUZZ_CHECK(!svc.exec_start.empty());
  FUZZ_CHECK(CheckAbsolutePath(svc.exec_start[0]).ok());
  FUZZ_CHECK(svc.working_directory.empty() || svc.working_directory.front() == '/');
  FUZZ_CHECK(svc.restart_sec >= absl::ZeroDuration());
  for (const std::string& env : svc.environment) {
    size_t eq = env.find('=');
    FUZZ_CHECK(eq != std::string::npos && eq > 0 && IsValidUtf8(env));
    for (const std::string& other : svc.environment) {
      FUZZ_CHECK(&other == &env || other.compare(0, eq + 1, env, 0, eq + 1) != 0);
    }
  }
}

bool SameDiagnostics(const std::vector<Diagnostic>& a, const std::vector<Diagnostic>& b) {
  return a == b;
}

// The value parsers on one line of input.
void CheckValues(std::string_view value) {
  absl::StatusOr<std::vector<std::string>> words = SplitWords(value);
  if (words.ok()) {
    bool has_nul = std::any_of(words->begin(), words->end(), [](const std::string& w) {
      return w.find('\0') != std::string::npos;
    });
    if (!has_nul) {
      std::string quoted;
      for (const std::string& w : *words) quoted += QuoteWord(w) + " ";
      absl::StatusOr<std::vector<std::string>> again = SplitWords(quoted);
      FUZZ_CHECK(again.ok() && *again == *words);
    }
  }
  for (auto type : {ListenSpec::Type::kStream, ListenSpec::Type::kDatagram}) {
    absl::StatusOr<ListenSpec> spec = ParseListenSpec(type, value);
    if (spec.ok()) CheckListen(*spec);
  }
  absl::StatusOr<absl::Duration> span = ParseTimeSpan(value);
  if (span.ok()) FUZZ_CHECK(*span >= absl::ZeroDuration());
  absl::StatusOr<std::string> expanded = ExpandSpecifiers(value, "web");
  if (expanded.ok()) FUZZ_CHECK(expanded->size() >= value.size() / 2);
}

}  // namespace
}  // namespace gatekeeper::config

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatekeeper::config;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  std::vector<std::string_view> parts;
  size_t start = 0;
  while (parts.size() < kMaxDropIns) {
    size_t sep = input.find(kSeparator, start);
    if (sep == std::string_view::npos) break;
    parts.push_back(input.substr(start, sep - start));
    start = sep + kSeparator.size();
  }
  parts.push_back(input.substr(start));

  SourceText main{"web.gate", std::string(parts[0])};
  std::vector<SourceText> dropins;
  std::map<std::string, int> files = {{main.file, LineCount(main.text)}};
  for (size_t i = 1; i < parts.size(); ++i) {
    dropins.push_back(
        SourceText{"web.gate.d/" + std::to_string(i) + ".conf", std::string(parts[i])});
    files[dropins.back().file] = LineCount(dropins.back().text);
  }

  FuzzResolver resolver;
  LoadResult result = ParseGate("web", main, dropins, resolver);
  CheckDiagnostics(result.errors, files, /*capped=*/true);
  CheckDiagnostics(result.warnings, files, /*capped=*/false);
  FUZZ_CHECK(result.config.gates.size() == 1);
  if (result.ok()) CheckGoodGate(result.config.gates[0], files);

  LoadResult again = ParseGate("web", main, dropins, resolver);
  FUZZ_CHECK(SameDiagnostics(result.errors, again.errors));
  FUZZ_CHECK(SameDiagnostics(result.warnings, again.warnings));

  SourceText host{"gatekeeper.conf", main.text};
  LoadResult host_result = ParseHostConfig(host, resolver);
  CheckDiagnostics(host_result.errors, {{host.file, LineCount(host.text)}}, true);
  FUZZ_CHECK(host_result.config.gates.empty());

  CheckValues(input.substr(0, input.find('\n')));
  return 0;
}
