// The names and addresses of gk-link-bench's test network and of the one gate on it: shared by
// the parts that build the network, configure the daemon, read its log and connect as the client.
#ifndef GATEKEEPER_TESTS_BENCH_LINK_BENCH_TOPOLOGY_H_
#define GATEKEEPER_TESTS_BENCH_LINK_BENCH_TOPOLOGY_H_

#include <cstdint>

namespace gatekeeper::bench {

inline constexpr char kGateName[] = "linkbench";
inline constexpr char kServerDevice[] = "gkbls0";
inline constexpr char kClientDevice[] = "gkblc0";
inline constexpr char kServerAddress[] = "192.0.2.1";
inline constexpr char kClientAddress[] = "192.0.2.2";
inline constexpr char kServerMac[] = "02:00:c0:00:02:01";  // locally administered
inline constexpr uint16_t kPort = 9000;

}  // namespace gatekeeper::bench

#endif  // GATEKEEPER_TESTS_BENCH_LINK_BENCH_TOPOLOGY_H_
