// Driving a LinkWatcher from a test: create it inside a test namespace, wait on its fd with a
// deadline, and read the kernel's own view through `ip` to compare against.
#ifndef GATEKEEPER_TESTS_INTEGRATION_NET_WATCHER_HELPERS_H_
#define GATEKEEPER_TESTS_INTEGRATION_NET_WATCHER_HELPERS_H_

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "net/link_watcher.h"
#include "tests/integration/test_env.h"

namespace gatekeeper::testing {

// Creates the watcher on a thread that switched into `netns`, so it watches that namespace; the
// caller then uses it from its own thread.
absl::StatusOr<std::unique_ptr<net::LinkWatcher>> CreateWatcherIn(
    const Netns& netns, std::function<void()> on_change, net::LinkWatcherOptions options = {});

// Calls Process() whenever the watcher's fd is readable until `done` holds (checked first, then
// after every Process()), or fails the test when `timeout` passes or Process() fails.
bool ProcessUntil(net::LinkWatcher& watcher, const std::function<bool()>& done,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The kernel's links in `netns` as "NAME#IFINDEX", and its addresses as "NAME ADDRESS/PREFIX"
// (tentative or not), from `ip -o`.
std::set<std::string> KernelLinks(const Netns& netns);
std::set<std::string> KernelAddresses(const Netns& netns);
// The same two views of what the watcher believes.
std::set<std::string> WatcherLinks(const net::LinkWatcher& watcher);
std::set<std::string> WatcherAddresses(const net::LinkWatcher& watcher);

// The kernel's ifindex of `name` in `netns`, 0 when there is none.
int KernelIfindex(const Netns& netns, const std::string& name);

// `ip -n NETNS -batch FILE` with one command per line: hundreds of changes in one process.
void IpBatch(const Netns& netns, const std::vector<std::string>& commands);

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_INTEGRATION_NET_WATCHER_HELPERS_H_
