// Feeds arbitrary text to `gatekeeper analyze` as other people's units: the input is split at
// lines "#---" into foo.socket, foo.service, a drop-in of foo.service and default.target, written
// into a scratch root that also has a sockets.target.wants link, a symlink loop and a masked unit,
// and the whole analysis runs over it. Whatever the text, analysis must not crash, every warning
// must name a file, and both renderings must work (the JSON one must be serialisable).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "analyze/analyze.h"
#include "analyze/unit_file.h"
#include "tests/fuzz/fuzz_check.h"

namespace gatekeeper::analyze {
namespace {

constexpr std::string_view kSeparator = "\n#---\n";

// Never destroyed: the exit handler that removes the scratch root runs after static destructors.
const std::string& Root() {
  static const std::string* const root = [] {
    char tmpl[] = "/tmp/gk-unit-fuzz-XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    if (dir == nullptr) std::abort();
    auto* path = new std::string(dir);
    const std::filesystem::path etc = std::filesystem::path(*path) / "etc/systemd/system";
    std::filesystem::create_directories(etc / "sockets.target.wants");
    std::filesystem::create_directories(etc / "foo.service.d");
    std::filesystem::create_symlink("../foo.socket", etc / "sockets.target.wants/foo.socket");
    std::filesystem::create_symlink("loop-b.service", etc / "loop-a.service");
    std::filesystem::create_symlink("loop-a.service", etc / "loop-b.service");
    std::filesystem::create_symlink("/dev/null", etc / "masked.service");
    std::ofstream(etc / "sockets.target") << "[Unit]\nDescription=Sockets\n";
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*root, ec);
    });
    return path;
  }();
  return *root;
}

void Write(const std::string& relative, std::string_view text) {
  std::ofstream(Root() + "/etc/systemd/system/" + relative, std::ios::trunc)
      .write(text.data(), static_cast<std::streamsize>(text.size()));
}

}  // namespace
}  // namespace gatekeeper::analyze

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatekeeper::analyze;  // NOLINT(google-build-using-namespace)
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::vector<Assignment> assignments;
  std::vector<Warning> warnings;
  ParseUnitText(input, "fuzz.service", &assignments, &warnings);
  for (const Assignment& a : assignments) FUZZ_CHECK(a.file == "fuzz.service" && a.line >= 1);
  for (const Warning& w : warnings) FUZZ_CHECK(w.file == "fuzz.service");

  std::vector<std::string_view> parts;
  size_t start = 0;
  while (parts.size() < 3) {
    const size_t cut = input.find(kSeparator, start);
    if (cut == std::string_view::npos) break;
    parts.push_back(input.substr(start, cut - start));
    start = cut + kSeparator.size();
  }
  parts.push_back(input.substr(start));
  parts.resize(4);
  Write("foo.socket", parts[0]);
  Write("foo.service", parts[1]);
  Write("foo.service.d/10-fuzz.conf", parts[2]);
  Write("default.target", parts[3].empty() ? std::string_view("[Unit]\nWants=loop-a.service "
                                                              "masked.service foo.socket\n")
                                           : parts[3]);

  Options options;
  options.root = Root();
  options.suggest_gate = true;
  options.device_created_by = {{"wg0", "foo.service"}};
  absl::StatusOr<Report> report = Analyze(options);
  if (report.ok()) {
    for (const Warning& w : report->warnings) FUZZ_CHECK(!FormatWarning(w).empty());
    (void)RenderText(*report);
    // Invalid UTF-8 from the units must not make the JSON unserialisable.
    const std::string json =
        RenderJson(*report).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    FUZZ_CHECK(!json.empty());
  }
  return 0;
}
