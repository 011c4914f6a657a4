// Where a setting came from and what is wrong with it: the "FILE:LINE: message" lines that
// `gatekeeper check` prints.
#ifndef GATEKEEPER_CONFIG_DIAGNOSTIC_H_
#define GATEKEEPER_CONFIG_DIAGNOSTIC_H_

#include <map>
#include <string>
#include <vector>

namespace gatekeeper::config {

struct Location {
  std::string file;
  int line = 0;  // 1-based; 0 for something that has no lines (a directory)

  // "web.gate:7", or just the file when there is no line.
  std::string ToString() const;
  bool operator==(const Location&) const = default;
};

struct Diagnostic {
  Location where;
  std::string message;

  // "web.gate:7: message"
  std::string ToString() const;
  bool operator==(const Diagnostic&) const = default;
};

// Collects diagnostics while files are parsed. A binary file would otherwise produce one error
// per line, so past kMaxErrorsPerFile a file's errors are only counted, and Finish() reports the
// count. Finish() also orders the errors by file and line, because a file is checked in several
// passes (syntax, keys, whole-gate checks).
class Diagnostics {
 public:
  static constexpr int kMaxErrorsPerFile = 100;

  // Fixes the place of `file` in the output order; files not noted come in the order of their
  // first diagnostic.
  void NoteFile(const std::string& file) { StateOf(file); }
  void Error(Location where, std::string message);
  void Warning(Location where, std::string message);

  // Moves the collected diagnostics out, sorted, with one summary per file that hit the cap.
  void Finish(std::vector<Diagnostic>& errors, std::vector<Diagnostic>& warnings);

 private:
  struct FileState {
    int order = 0;
    int shown = 0;
    int suppressed = 0;
    int first_suppressed_line = 0;
  };
  FileState& StateOf(const std::string& file);

  std::map<std::string, FileState> files_;
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
};

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_DIAGNOSTIC_H_
