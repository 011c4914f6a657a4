#include "tests/e2e/systemd/nspawn_container.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "kernel/cgroup.h"
#include "kernel/mountinfo.h"
#include "tests/integration/test_env.h"

extern char** environ;

namespace gatekeeper::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr char kPrefix[] = "gk-test-nspawn-";
constexpr char kNspawn[] = "/usr/bin/systemd-nspawn";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// The pid that a leftover's name ends in, when the process that made it is gone.
bool OwnerIsGone(const std::string& name) {
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripPrefix(name, kPrefix), &pid) || pid <= 0) return false;
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// Kills whatever still runs in `cgroup` (cgroup.kill, Linux 5.14) and removes the tree.
absl::Status KillAndRemoveCgroup(const std::string& cgroup) {
  if (!fs::exists(cgroup)) return absl::OkStatus();
  std::ofstream(cgroup + "/cgroup.kill") << "1";
  absl::Status removed;
  PollUntil(
      [&] {
        removed = kernel::RemoveCgroupTree(cgroup);
        return removed.ok();
      },
      milliseconds(10000), milliseconds(50));
  return removed;
}

void Unmount(const std::string& path) {
  if (::umount2(path.c_str(), 0) != 0 && errno != EINVAL && errno != ENOENT) {
    ::umount2(path.c_str(), MNT_DETACH);
  }
}

// What a run that was killed (SIGKILL, ctest's timeout) left: its container, cgroup, overlay.
void RemoveLeftoversOfDeadRuns() {
  std::error_code ec;
  if (auto cgroup2 = kernel::ReadCgroup2Mount(); cgroup2.ok()) {
    for (const auto& e : fs::directory_iterator(*cgroup2, ec)) {
      const std::string n = e.path().filename().string();
      if (e.is_directory() && absl::StartsWith(n, kPrefix) && OwnerIsGone(n)) {
        (void)KillAndRemoveCgroup(e.path().string());
      }
    }
  }
  for (const auto& e : fs::directory_iterator("/tmp", ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && absl::StartsWith(n, kPrefix) && OwnerIsGone(n)) {
      Unmount(e.path().string() + "/merged");
      fs::remove_all(e.path(), ec);
    }
  }
}

}  // namespace

absl::StatusOr<std::string> CachedNspawnRoot(const std::string& script) {
  std::string out;
  if (Run({script, "--check"}, &out) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the cached Debian root for this test is not ready: ", absl::StripAsciiWhitespace(out),
        "\nbuild it with `", script,
        "` (an install step that scripts/test runs before the tests)"));
  }
  if (Run({script, "--path"}, &out) != 0) {
    return absl::InternalError(absl::StrCat(script, " --path: ", out));
  }
  return std::string(absl::StripAsciiWhitespace(out));
}

bool PollUntil(const std::function<bool()>& done, milliseconds timeout, milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ::poll(nullptr, 0, static_cast<int>(interval.count()));
  }
  return true;
}

NspawnContainer::NspawnContainer(std::string image, CgroupLayout layout)
    : image_(std::move(image)), layout_(layout) {
  name_ = absl::StrCat(kPrefix, ::getpid());
  workdir_ = absl::StrCat("/tmp/", name_);
  merged_ = workdir_ + "/merged";
}

NspawnContainer::~NspawnContainer() {
  Shutdown(milliseconds(20000));
  if (!cgroup_.empty()) {
    if (absl::Status s = KillAndRemoveCgroup(cgroup_); !s.ok()) {
      std::fprintf(stderr, "nspawn container: %s\n", std::string(s.message()).c_str());
    }
  }
  if (mounted_) Unmount(merged_);
  std::error_code ec;
  if (!workdir_.empty()) fs::remove_all(workdir_, ec);
}

absl::Status NspawnContainer::Prepare() {
  // scripts/nspawn-root replaces the root only under an exclusive lock on this file.
  const std::string lock_path = image_ + ".lock";
  lock_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock_) return Errno(absl::StrCat("open ", lock_path));
  if (::flock(lock_.get(), LOCK_SH | LOCK_NB) != 0) {
    return absl::UnavailableError(
        absl::StrCat("scripts/nspawn-root is rebuilding ", image_, " (", lock_path, " is locked)"));
  }
  RemoveLeftoversOfDeadRuns();

  std::error_code ec;
  for (const char* d : {"upper", "work", "merged"}) fs::create_directories(workdir_ + "/" + d, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", workdir_, ": ", ec.message()));
  const std::string options = absl::StrCat("lowerdir=", image_, ",upperdir=", workdir_,
                                           "/upper,workdir=", workdir_, "/work");
  if (::mount("overlay", merged_.c_str(), "overlay", 0, options.c_str()) != 0) {
    return Errno(absl::StrCat("mount overlay ", options, " on ", merged_));
  }
  mounted_ = true;
  return absl::OkStatus();
}

absl::Status NspawnContainer::WriteFile(const std::string& path, const std::string& text,
                                        mode_t mode) {
  const fs::path p = fs::path(merged_) / fs::path(path).relative_path();
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  {
    std::ofstream out(p, std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::InternalError(absl::StrCat("write ", p.string()));
  }
  if (::chmod(p.c_str(), mode) != 0) return Errno(absl::StrCat("chmod ", p.string()));
  return absl::OkStatus();
}

absl::Status NspawnContainer::CopyFile(const std::string& from, const std::string& path,
                                       mode_t mode) {
  const fs::path p = fs::path(merged_) / fs::path(path).relative_path();
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  fs::copy_file(from, p, fs::copy_options::overwrite_existing, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("copy ", from, " to ", p.string(), ": ", ec.message()));
  if (::chmod(p.c_str(), mode) != 0) return Errno(absl::StrCat("chmod ", p.string()));
  return absl::OkStatus();
}

absl::Status NspawnContainer::Symlink(const std::string& target, const std::string& path) {
  const fs::path p = fs::path(merged_) / fs::path(path).relative_path();
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  fs::create_symlink(target, p, ec);
  if (ec) return absl::InternalError(absl::StrCat("symlink ", p.string(), ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status NspawnContainer::Boot(milliseconds timeout) {
  if (!mounted_) return absl::FailedPreconditionError("Prepare() first");
  if (::access(kNspawn, X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kNspawn, " is missing: install systemd-container (scripts/nspawn-root does)"));
  }
  auto cgroup2 = kernel::ReadCgroup2Mount();
  if (!cgroup2.ok()) return cgroup2.status();
  // nspawn --keep-unit makes payload/ (the container) and supervisor/ (itself) beside the cgroup
  // it starts in: a cgroup of our own keeps them out of the caller's and away from other runs.
  cgroup_ = absl::StrCat(*cgroup2, "/", name_);
  if (::mkdir(cgroup_.c_str(), 0755) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("mkdir ", cgroup_));
  }

  std::vector<std::string> args = {kNspawn, "--directory=" + merged_, "--boot",
                                   "--machine=" + name_, "--private-network", "--bind=/dev/net/tun",
                                   // Not registered with machined: there is no system bus here.
                                   "--register=no", "--keep-unit", "--console=passive",
                                   "--link-journal=no",
                                   // nspawn's seccomp filter refuses bpf() otherwise.
                                   "--system-call-filter=bpf", "--capability=all",
                                   // nspawn mounts no bpffs and /sys/fs is read-only: give the
                                   // daemon a mount point for the bpffs it mounts itself.
                                   "--tmpfs=/sys/fs/bpf:mode=700"};
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "NOTIFY_SOCKET=") &&
        !absl::StartsWith(*e, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=")) {
      env_store.push_back(*e);
    }
  }
  // On a host with the hybrid layout nspawn would give the container the hybrid layout too;
  // this asks for cgroup v2 only, what a Debian 12 host boots with.
  if (layout_ == CgroupLayout::kUnified) {
    env_store.push_back("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1");
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string procs = cgroup_ + "/cgroup.procs";
  const std::string log = workdir_ + "/console.log";

  const pid_t pid = ::fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec. nspawn stays in our session, so whatever
    // ends this test (ctest's timeout, ^C) reaches the container too.
    const int c = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (c < 0 || ::write(c, "0", 1) != 1) ::_exit(126);
    ::close(c);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execve(kNspawn, argv.data(), envp.data());
    ::_exit(127);
  }
  nspawn_pid_ = pid;

  // The container's init is nspawn's child once it has exec'd systemd.
  const std::string children = absl::StrCat("/proc/", pid, "/task/", pid, "/children");
  const bool found = PollUntil(
      [&] {
        if (!nspawn_running()) return true;
        for (absl::string_view c : absl::StrSplit(ReadAll(children), ' ', absl::SkipEmpty())) {
          int child = 0;
          if (absl::SimpleAtoi(c, &child) && absl::StripAsciiWhitespace(ReadAll(absl::StrCat(
                                                 "/proc/", child, "/comm"))) == "systemd") {
            init_pid_ = child;
            return true;
          }
        }
        return false;
      },
      timeout, milliseconds(20));
  if (init_pid_ <= 0) {
    return absl::DeadlineExceededError(absl::StrCat(
        found ? "systemd-nspawn exited" : "no systemd in the container after the timeout",
        "; its output:\n", ConsoleLog()));
  }
  return absl::OkStatus();
}

int NspawnContainer::Exec(const std::vector<std::string>& argv, std::string* out,
                          std::chrono::seconds timeout) const {
  std::vector<std::string> full = {"timeout",
                                   "--kill-after=5",
                                   absl::StrCat(timeout.count()),
                                   "nsenter",
                                   "-t",
                                   absl::StrCat(init_pid_),
                                   "--all"};
  full.insert(full.end(), argv.begin(), argv.end());
  std::string ignored;
  return Run(full, out != nullptr ? out : &ignored);
}

bool NspawnContainer::nspawn_running() {
  if (nspawn_pid_ <= 0) return false;
  if (::waitpid(nspawn_pid_, nullptr, WNOHANG) == 0) return true;
  nspawn_pid_ = -1;
  return false;
}

bool NspawnContainer::Shutdown(milliseconds timeout) {
  if (nspawn_pid_ <= 0) return true;
  // nspawn turns SIGTERM into the container's halt signal (SIGRTMIN+3 for systemd).
  ::kill(nspawn_pid_, SIGTERM);
  if (!PollUntil([&] { return !nspawn_running(); }, timeout, milliseconds(20))) {
    std::fprintf(stderr, "nspawn container %s: no halt within %lld ms, killing it\n", name_.c_str(),
                 static_cast<long long>(timeout.count()));
    // Killing the container's init ends its whole PID namespace.
    if (init_pid_ > 0) ::kill(init_pid_, SIGKILL);
    ::kill(nspawn_pid_, SIGKILL);
    while (::waitpid(nspawn_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    nspawn_pid_ = -1;
    init_pid_ = -1;
    return false;
  }
  init_pid_ = -1;
  return true;
}

void PrintTo(NspawnContainer::CgroupLayout layout, std::ostream* os) {
  *os << (layout == NspawnContainer::CgroupLayout::kUnified ? "cgroup2-only"
                                                            : "host-cgroup-layout");
}

std::string NspawnContainer::ConsoleLog() const { return ReadAll(workdir_ + "/console.log"); }

}  // namespace gatekeeper::testing
