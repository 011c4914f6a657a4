// gk-link-bench's test network: a server and a client network namespace (gkbl<pid>s/c) joined by
// a veth pair, and an rtnetlink socket in the server namespace for the timed `set up` requests.
// Make() builds it and leaves the calling thread in the client namespace, so that the tool's
// sockets are the client's; Remove() takes it down again from whatever state it is in.
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_NETNS_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_NETNS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "tests/bench/link_bench_daemon.h"

namespace gatekeeper::bench {

class Network {
 public:
  // Named after `tag`; every command runs and every wait is served through `daemon`, which
  // outlives this.
  Network(const std::string& tag, Daemon& daemon);
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Writes the `ip -batch` files CreateVeth() runs into `root_dir`, makes both namespaces and the
  // veth pair (both ends up), and moves the calling thread into the client namespace.
  absl::Status Make(const std::string& root_dir);
  // The server namespace, for the daemon to start in.
  int server_ns_fd() const { return server_ns_fd_.get(); }

  // Sets the server end up or down over the server namespace's rtnetlink socket. SendServerLink
  // only sends (the kernel handles the request inside send(): the link event is broadcast before
  // the call returns); WaitServerAck reads its acknowledgement.
  absl::Status SendServerLink(bool up);
  absl::Status WaitServerAck(int64_t deadline_ns);
  // Deletes the veth pair (both ends go), or creates it again: both addresses added, the client
  // end up and the server end left down.
  absl::Status DeleteVeth();
  absl::Status CreateVeth(bool server_up);
  absl::Status SetClientUp();
  // Whether the server end exists now.
  absl::StatusOr<bool> ServerDeviceExists();

  // Returns the calling thread to the tool's own namespace and deletes the namespaces Make()
  // made, the veth pair with them; appends to `problems` what failed.
  void Remove(std::vector<std::string>& problems);

 private:
  absl::Status WriteBatches(const std::string& root_dir);
  absl::Status MakeNamespaces();
  absl::Status EnterNamespace(int ns_fd, const std::string& what);
  absl::Status Run(const std::vector<std::string>& argv);

  Daemon& daemon_;
  std::string tag_;  // gkbl<pid>
  std::string server_ns_, client_ns_;
  std::string root_dir_;  // holds server.batch and client.batch
  bool made_server_ns_ = false, made_client_ns_ = false;

  common::UniqueFd original_ns_;  // the tool's own network namespace, to return to
  common::UniqueFd server_ns_fd_, client_ns_fd_;
  common::UniqueFd rtnl_;  // NETLINK_ROUTE socket created in the server namespace
  uint32_t rtnl_seq_ = 0;
};

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_NETNS_H_
