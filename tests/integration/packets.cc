#include "tests/integration/packets.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>

#include <algorithm>
#include <cstring>

namespace gatekeeper::testing {
namespace {

void Put16(std::vector<uint8_t>& p, uint16_t v) {
  p.push_back(v >> 8);
  p.push_back(v & 0xff);
}

std::vector<uint8_t> Transport(const PacketSpec& spec) {
  std::vector<uint8_t> t;
  Put16(t, spec.sport);
  Put16(t, spec.dport);
  if (spec.protocol == IPPROTO_UDP) {
    Put16(t, 8 + spec.payload);
    Put16(t, 0);
  } else {
    const size_t header = 20 + 4 * spec.tcp_option_words;
    t.resize(header, 1);  // NOP options
    std::fill(t.begin() + 4, t.begin() + 20, 0);
    t[12] = (header / 4) << 4;  // data offset
    t[13] = spec.tcp_flags;
    t[14] = 0xff;  // window
  }
  t.resize(t.size() + spec.payload, 'x');
  return t;
}

}  // namespace

std::vector<uint8_t> BuildPacket(const PacketSpec& spec) {
  const bool v6 = spec.src.find(':') != std::string::npos;
  std::vector<uint8_t> p(12, 0);  // destination and source MAC
  Put16(p, v6 ? ETH_P_IPV6 : ETH_P_IP);
  const std::vector<uint8_t> transport = Transport(spec);
  if (!v6) {
    const size_t ihl = spec.ipv4_options ? 7 : 5;
    std::vector<uint8_t> ip(ihl * 4, 0);
    ip[0] = 0x40 | ihl;
    const uint16_t total = ip.size() + transport.size();
    ip[2] = total >> 8;
    ip[3] = total & 0xff;
    if (spec.ipv4_more_fragments) ip[6] = 0x20;  // MF
    ip[8] = 64;
    ip[9] = spec.protocol;
    inet_pton(AF_INET, spec.src.c_str(), &ip[12]);
    inet_pton(AF_INET, spec.dst.c_str(), &ip[16]);
    for (size_t i = 20; i < ip.size(); ++i) ip[i] = 1;  // NOP options
    p.insert(p.end(), ip.begin(), ip.end());
  } else {
    std::vector<uint8_t> ext;
    uint8_t first = spec.protocol;
    if (spec.ipv6_extension_headers) {
      first = IPPROTO_HOPOPTS;
      ext = {IPPROTO_DSTOPTS,
             0,
             1,
             4,
             0,
             0,
             0,
             0,  // hop-by-hop, PadN
             spec.protocol,
             1,
             1,
             12,
             0,
             0,
             0,
             0,  // destination options, 16 bytes
             0,
             0,
             0,
             0,
             0,
             0,
             0,
             0};
    }
    std::vector<uint8_t> ip(40, 0);
    ip[0] = 0x60;
    const uint16_t payload = ext.size() + transport.size();
    ip[4] = payload >> 8;
    ip[5] = payload & 0xff;
    ip[6] = first;
    ip[7] = 64;
    inet_pton(AF_INET6, spec.src.c_str(), &ip[8]);
    inet_pton(AF_INET6, spec.dst.c_str(), &ip[24]);
    p.insert(p.end(), ip.begin(), ip.end());
    p.insert(p.end(), ext.begin(), ext.end());
  }
  p.insert(p.end(), transport.begin(), transport.end());
  return p;
}

PacketSpec TcpReset(const std::string& src, const std::string& dst, size_t payload) {
  PacketSpec spec{src, dst, IPPROTO_TCP};
  spec.tcp_flags = kTcpRst | kTcpAck;
  spec.payload = payload;
  return spec;
}

}  // namespace gatekeeper::testing
