#include "config/diagnostic.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace gatekeeper::config {

std::string Location::ToString() const {
  // A file name with a newline or ESC must not split a diagnostic in two (a forged journal line)
  // or reach the terminal: control characters are shown escaped.
  const bool plain = std::none_of(file.begin(), file.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  const std::string name = plain ? file : absl::CHexEscape(file);
  if (line <= 0) return name;
  return absl::StrCat(name, ":", line);
}

std::string Diagnostic::ToString() const { return absl::StrCat(where.ToString(), ": ", message); }

Diagnostics::FileState& Diagnostics::StateOf(const std::string& file) {
  auto [it, inserted] = files_.try_emplace(file);
  if (inserted) it->second.order = static_cast<int>(files_.size());
  return it->second;
}

void Diagnostics::Error(Location where, std::string message) {
  FileState& state = StateOf(where.file);
  if (state.shown >= kMaxErrorsPerFile) {
    if (state.suppressed++ == 0) state.first_suppressed_line = where.line;
    return;
  }
  ++state.shown;
  errors_.push_back(Diagnostic{std::move(where), std::move(message)});
}

void Diagnostics::Warning(Location where, std::string message) {
  StateOf(where.file);
  warnings_.push_back(Diagnostic{std::move(where), std::move(message)});
}

void Diagnostics::Finish(std::vector<Diagnostic>& errors, std::vector<Diagnostic>& warnings) {
  auto by_position = [this](const Diagnostic& a, const Diagnostic& b) {
    int order_a = files_.at(a.where.file).order;
    int order_b = files_.at(b.where.file).order;
    if (order_a != order_b) return order_a < order_b;
    return a.where.line < b.where.line;
  };
  std::stable_sort(errors_.begin(), errors_.end(), by_position);
  std::stable_sort(warnings_.begin(), warnings_.end(), by_position);

  // The count of a file's hidden errors goes after its last shown one.
  auto summarize = [&](const std::string& file) {
    const FileState& state = files_.at(file);
    if (state.suppressed == 0) return;
    errors.push_back(Diagnostic{
        Location{file, state.first_suppressed_line},
        absl::StrCat(state.suppressed, " more errors in this file are not shown (the first ",
                     kMaxErrorsPerFile, " are)")});
  };
  for (size_t i = 0; i < errors_.size(); ++i) {
    std::string file = errors_[i].where.file;
    errors.push_back(std::move(errors_[i]));
    if (i + 1 == errors_.size() || errors_[i + 1].where.file != file) summarize(file);
  }
  warnings.insert(warnings.end(), std::make_move_iterator(warnings_.begin()),
                  std::make_move_iterator(warnings_.end()));
  errors_.clear();
  warnings_.clear();
  files_.clear();
}

}  // namespace gatekeeper::config
