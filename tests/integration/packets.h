// Crafted packets for BPF_PROG_TEST_RUN: an Ethernet header (the kernel strips it and sets
// skb->protocol), then IPv4 or IPv6, then a TCP or UDP header.
#ifndef GATEKEEPER_TESTS_INTEGRATION_PACKETS_H_
#define GATEKEEPER_TESTS_INTEGRATION_PACKETS_H_

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gatekeeper::testing {

struct PacketSpec {
  std::string src;  // numeric IPv4 or IPv6
  std::string dst;
  uint8_t protocol = IPPROTO_TCP;
  uint16_t sport = 40000;
  uint16_t dport = 443;
  // IPv6 only: put a hop-by-hop and a destination-options header before the transport header.
  bool ipv6_extension_headers = false;
  // IPv4 only: 8 bytes of IP options (NOPs), so the transport header starts at 28.
  bool ipv4_options = false;
};

std::vector<uint8_t> BuildPacket(const PacketSpec& spec);

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_INTEGRATION_PACKETS_H_
