#include "tests/bench/link_bench_env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "tests/bench/link_bench_clock.h"

namespace gatekeeper::bench {

using common::ErrnoStatus;

BenchEnv::BenchEnv(std::string gatekeeper, std::string service)
    : tag_(absl::StrCat("gkbl", ::getpid())),
      daemon_(std::move(gatekeeper), std::move(service)),
      network_(tag_, daemon_) {}

BenchEnv::~BenchEnv() { (void)Cleanup(); }

absl::Status BenchEnv::Setup() {
  // Every wait reads a signalfd, so that ^C ends the run through Cleanup().
  GK_RETURN_IF_ERROR(daemon_.CatchSignals());

  std::string root = absl::StrCat("/tmp/", tag_, "-XXXXXX");
  if (::mkdtemp(root.data()) == nullptr) return ErrnoStatus(errno, "mkdtemp under /tmp");
  root_dir_ = root;
  for (const char* sub : {"/etc", "/run"}) {
    if (::mkdir((root_dir_ + sub).c_str(), 0700) != 0) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", root_dir_, sub));
    }
  }
  GK_RETURN_IF_ERROR(network_.Make(root_dir_));
  GK_RETURN_IF_ERROR(dirs_.Make(tag_));
  GK_RETURN_IF_ERROR(daemon_.Start(root_dir_, dirs_, network_.server_ns_fd()));
  return daemon_.WaitReady(NowNs() + 30 * kSecond);
}

std::vector<std::string> BenchEnv::Cleanup() {
  std::vector<std::string> problems;
  if (cleaned_up_) return problems;
  cleaned_up_ = true;
  // The daemon first: what it left is only known once it has stopped, and it lives in the server
  // namespace, which goes last.
  daemon_.Stop(problems);
  dirs_.Remove(problems);
  network_.Remove(problems);
  std::error_code ec;
  if (!root_dir_.empty()) std::filesystem::remove_all(root_dir_, ec);
  return problems;
}

}  // namespace gatekeeper::bench
