#include "cli/check_command.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "config/config.h"
#include "config/user_resolver.h"
#include "policy/lint.h"

namespace gatekeeper::cli {
namespace {

void SortByPlace(std::vector<policy::LintFinding>& findings, size_t from) {
  std::stable_sort(findings.begin() + static_cast<std::ptrdiff_t>(from), findings.end(),
                   [](const policy::LintFinding& a, const policy::LintFinding& b) {
                     return std::tie(a.origin.file, a.origin.line) <
                            std::tie(b.origin.file, b.origin.line);
                   });
}

const char* Plural(size_t n) { return n == 1 ? "" : "s"; }

}  // namespace

std::vector<policy::LintFinding> LintConfig(const config::Config& config, bool host_known) {
  std::vector<policy::LintFinding> out;
  auto append = [&out](std::vector<policy::LintFinding> more) {
    out.insert(out.end(), std::make_move_iterator(more.begin()),
               std::make_move_iterator(more.end()));
  };
  append(policy::LintHostLists(config.host.lists));
  append(policy::LintEntries(config.host.lists));
  SortByPlace(out, 0);
  const policy::AccessLists* host = host_known ? &config.host.lists : nullptr;
  for (const config::GateConfig& gate : config.gates) {
    const size_t from = out.size();
    append(policy::LintEntries(gate.socket.lists, host));
    if (gate.service) append(policy::LintEntries(gate.service->lists, host));
    SortByPlace(out, from);
  }
  return out;
}

int CheckCommand(const std::vector<std::pair<std::string, std::string>>& flags,
                 const std::vector<std::string>& files) {
  std::string dir = "/etc/gatekeeper";
  bool dir_given = false;
  for (const auto& [k, v] : flags) {
    if (k == "config-dir") {
      dir = v;
      dir_given = true;
    }
  }
  if (dir_given && !files.empty()) {
    std::fprintf(stderr, "gatekeeper check: give --config-dir or files, not both\n");
    return 2;
  }
  config::SystemUserResolver resolver;
  const config::LoadResult r =
      files.empty() ? config::LoadConfigDir(dir, resolver) : config::LoadFiles(files, resolver);
  for (const config::Diagnostic& w : r.warnings) {
    std::printf("%s: warning: %s\n", w.where.ToString().c_str(), w.message.c_str());
  }
  for (const config::Diagnostic& e : r.errors) std::printf("%s\n", e.ToString().c_str());
  if (!r.ok()) {
    std::fprintf(stderr, "%zu error%s\n", r.errors.size(), Plural(r.errors.size()));
    return 1;
  }

  // Only a valid configuration is linted: after an error the lists hold what could be understood,
  // and a rejected "IPAddressAllow=localhost ..." line would show up as a loopback warning.
  const bool host_known =
      files.empty() || std::any_of(files.begin(), files.end(), [](const std::string& f) {
        return std::filesystem::path(f).filename() == "gatekeeper.conf";
      });
  size_t warnings = r.warnings.size();
  size_t notes = 0;
  for (const policy::LintFinding& f : LintConfig(r.config, host_known)) {
    std::printf("%s: %s: %s\n", f.Where().c_str(), f.SeverityName(), f.message.c_str());
    (f.severity == policy::LintSeverity::kWarning ? warnings : notes)++;
  }
  std::printf("%zu gate%s OK", r.config.gates.size(), Plural(r.config.gates.size()));
  if (warnings + notes > 0) {
    std::printf(" (%zu warning%s, %zu note%s)", warnings, Plural(warnings), notes, Plural(notes));
  }
  std::printf("\n");
  return 0;
}

}  // namespace gatekeeper::cli
