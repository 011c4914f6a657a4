#include "kernel/mountinfo.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace gatekeeper::kernel {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const char a = s[i + 1], b = s[i + 2], c = s[i + 3];
      if (a >= '0' && a <= '3' && b >= '0' && b <= '7' && c >= '0' && c <= '7') {
        out.push_back(static_cast<char>((a - '0') * 64 + (b - '0') * 8 + (c - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::optional<std::string> FindCgroup2Mount(absl::string_view mountinfo) {
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 7) continue;
    size_t dash = 6;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash + 1 >= fields.size()) continue;
    if (fields[dash + 1] == "cgroup2") return Unescape(fields[4]);
  }
  return std::nullopt;
}

absl::StatusOr<std::string> ReadCgroup2Mount() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return absl::UnavailableError("cannot read /proc/self/mountinfo (is /proc mounted?)");
  std::stringstream text;
  text << in.rdbuf();
  if (auto mount = FindCgroup2Mount(text.str())) return *mount;
  return absl::NotFoundError(
      "no cgroup v2 file system is mounted (checked /proc/self/mountinfo); gatekeeper needs "
      "cgroup v2 for its BPF filters: mount it with `mount -t cgroup2 none /sys/fs/cgroup/unified` "
      "or boot with systemd.unified_cgroup_hierarchy=1");
}

}  // namespace gatekeeper::kernel
