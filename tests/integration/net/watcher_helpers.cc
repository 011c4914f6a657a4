#include "tests/integration/net/watcher_helpers.h"

#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace gatekeeper::testing {
namespace {

std::vector<std::string> IpLines(const Netns& netns, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip", "-n", netns.name(), "-o"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  EXPECT_EQ(Run(argv, &out), 0) << absl::StrJoin(argv, " ") << "\n" << out;
  return absl::StrSplit(out, '\n', absl::SkipEmpty());
}

// "5: va@vb: <...> ..." -> {5, "va"}
std::pair<int, std::string> ParseLinkLine(const std::string& line) {
  std::vector<std::string> fields = absl::StrSplit(line, absl::MaxSplits(": ", 2));
  int ifindex = 0;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[0], &ifindex)) {
    ADD_FAILURE() << "cannot read `ip -o link` line: " << line;
    return {0, ""};
  }
  std::string name = fields[1].substr(0, fields[1].find('@'));
  return {ifindex, name};
}

}  // namespace

absl::StatusOr<std::unique_ptr<net::LinkWatcher>> CreateWatcherIn(const Netns& netns,
                                                                  std::function<void()> on_change,
                                                                  net::LinkWatcherOptions options) {
  absl::StatusOr<std::unique_ptr<net::LinkWatcher>> result =
      absl::InternalError("watcher thread did not run");
  // setns() switches only this throwaway thread; the test thread stays in its own namespace.
  std::thread creator([&] {
    if (::setns(netns.fd(), CLONE_NEWNET) != 0) {
      result = common::ErrnoStatus(errno, absl::StrCat("setns into ", netns.name()));
      return;
    }
    result = net::LinkWatcher::Create(std::move(on_change), options);
  });
  creator.join();
  return result;
}

bool ProcessUntil(net::LinkWatcher& watcher, const std::function<bool()>& done,
                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << "the watcher did not reach the expected state within " << timeout.count()
                    << " ms";
      return false;
    }
    pollfd p{watcher.fd(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) {
      ADD_FAILURE() << "poll: " << std::strerror(errno);
      return false;
    }
    if (ready <= 0) continue;
    if (absl::Status status = watcher.Process(); !status.ok()) {
      ADD_FAILURE() << "Process(): " << status;
      return false;
    }
  }
  return true;
}

std::set<std::string> KernelLinks(const Netns& netns) {
  std::set<std::string> links;
  for (const std::string& line : IpLines(netns, {"link", "show"})) {
    auto [ifindex, name] = ParseLinkLine(line);
    links.insert(absl::StrCat(name, "#", ifindex));
  }
  return links;
}

std::set<std::string> KernelAddresses(const Netns& netns) {
  std::set<std::string> addresses;
  // "3: va    inet6 2001:db8::7/64 scope global tentative \ ..."
  for (const std::string& line : IpLines(netns, {"addr", "show"})) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 4 || (fields[2] != "inet" && fields[2] != "inet6")) continue;
    addresses.insert(absl::StrCat(fields[1], " ", fields[3]));
  }
  return addresses;
}

std::set<std::string> WatcherLinks(const net::LinkWatcher& watcher) {
  std::set<std::string> links;
  for (const net::Link& link : watcher.Links()) {
    links.insert(absl::StrCat(link.name, "#", link.ifindex));
  }
  return links;
}

std::set<std::string> WatcherAddresses(const net::LinkWatcher& watcher) {
  std::set<std::string> addresses;
  for (const net::Link& link : watcher.Links()) {
    for (const net::AddressInfo& a : watcher.Addresses(link.name, net::AddressFilter::kAll)) {
      addresses.insert(absl::StrCat(link.name, " ", a.address.ToString(), "/", a.prefix_len));
    }
  }
  return addresses;
}

int KernelIfindex(const Netns& netns, const std::string& name) {
  std::vector<std::string> argv = {"ip", "-n", netns.name(), "-o", "link", "show", "dev", name};
  std::string out;
  if (Run(argv, &out) != 0) return 0;
  return ParseLinkLine(out).first;
}

void IpBatch(const Netns& netns, const std::vector<std::string>& commands) {
  char path[] = "/tmp/gk-net-batch-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  const std::string text = absl::StrJoin(commands, "\n") + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  std::string out;
  const int rc = Run({"ip", "-n", netns.name(), "-batch", path}, &out);
  ::unlink(path);
  ASSERT_TRUE(written);
  ASSERT_EQ(rc, 0) << out;
}

}  // namespace gatekeeper::testing
