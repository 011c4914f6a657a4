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
  // IPv4 only: the first fragment of several (More Fragments set, offset 0).
  bool ipv4_more_fragments = false;
  // TCP only: the flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10) and 4-byte words
  // of options (NOPs) after the 20-byte header.
  uint8_t tcp_flags = 0x02;
  uint8_t tcp_option_words = 0;
  // Bytes of data after the transport header.
  size_t payload = 0;
};

inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpAck = 0x10;

std::vector<uint8_t> BuildPacket(const PacketSpec& spec);

// A TCP reset as the kernel sends one when a socket is aborted: RST+ACK, no data.
PacketSpec TcpReset(const std::string& src, const std::string& dst, size_t payload = 0);

}  // namespace gatekeeper::testing

#endif  // GATEKEEPER_TESTS_INTEGRATION_PACKETS_H_
