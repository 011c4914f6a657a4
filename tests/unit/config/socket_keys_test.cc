// [Socket] keys: good values, bad values, defaults and resets.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/config/test_util.h"

namespace gatekeeper::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Listeners(const GateConfig& gate) {
  std::vector<std::string> out;
  for (const ListenSpec& l : gate.socket.listen) {
    out.push_back(std::string(l.KeyName()) + "=" + l.ToString() + "@" + l.where.ToString());
  }
  return out;
}

std::string SocketError(std::string_view lines) {
  return OnlyError("[Socket]\nListenStream=80\n" + std::string(lines));
}

TEST(SocketKeysTest, Defaults) {
  GateConfig gate = SocketGate("");
  EXPECT_EQ(gate.name, "web");
  EXPECT_EQ(gate.file, "web.gate");
  EXPECT_EQ(gate.where, (Location{"web.gate", 1}));
  const SocketConfig& s = gate.socket;
  EXPECT_EQ(s.bind_to_device, "");
  EXPECT_EQ(s.bind_ipv6_only, BindIPv6Only::kDefault);
  EXPECT_EQ(s.backlog, std::nullopt);
  EXPECT_FALSE(s.reuse_port);
  EXPECT_FALSE(s.free_bind);
  EXPECT_FALSE(s.accept);
  EXPECT_EQ(s.max_connections, 64u);
  EXPECT_EQ(s.max_connections_per_source, 0u);
  EXPECT_EQ(s.fd_name, "web");
  EXPECT_EQ(s.socket_mode, 0666u);
  EXPECT_TRUE(s.lists.allow.empty());
  EXPECT_TRUE(s.lists.deny.empty());
  EXPECT_FALSE(gate.service.has_value());
}

TEST(SocketKeysTest, ListenersAccumulateAndAnEmptyValueResetsThemAll) {
  GateConfig gate = SocketGate(
      "ListenDatagram=192.0.2.1:53\nListenStream=[2001:db8::1]:443\nListenStream=/run/%n.sock\n");
  EXPECT_THAT(Listeners(gate),
              ElementsAre("ListenStream=80@web.gate:2", "ListenDatagram=192.0.2.1:53@web.gate:3",
                          "ListenStream=[2001:db8::1]:443@web.gate:4",
                          "ListenStream=/run/web.sock@web.gate:5"));
  gate = SocketGate("ListenDatagram=53\nListenDatagram=\nListenStream=8080\n");
  EXPECT_THAT(Listeners(gate), ElementsAre("ListenStream=8080@web.gate:5"));
}

TEST(SocketKeysTest, BadListenValues) {
  EXPECT_EQ(SocketError("ListenStream=example.com:80\n"),
            "web.gate:3: ListenStream=: invalid listen address \"example.com:80\": "
            "\"example.com\" is not a numeric IPv4 address (host names are not allowed)");
  EXPECT_THAT(SocketError("ListenDatagram=0\n"), HasSubstr("web.gate:3: ListenDatagram=: "));
}

TEST(SocketKeysTest, DuplicateListenersInOneGate) {
  EXPECT_EQ(SocketError("ListenStream=80\n"),
            "web.gate:3: ListenStream=: duplicate listener 80: already set by ListenStream= at "
            "web.gate:2");
  EXPECT_THAT(SocketError("ListenStream=/run/a\nListenDatagram=/run//a\n"),
              HasSubstr("web.gate:4: ListenDatagram=: duplicate listener /run/a"));
  // Same port, other protocol or address: fine.
  EXPECT_THAT(Listeners(SocketGate("ListenDatagram=80\nListenStream=192.0.2.1:80\n")),
              ::testing::SizeIs(3));
  // After a reset the earlier listener is gone, so it is no duplicate.
  EXPECT_THAT(Listeners(SocketGate("ListenStream=\nListenStream=80\n")),
              ElementsAre("ListenStream=80@web.gate:4"));
}

TEST(SocketKeysTest, BindToDevice) {
  EXPECT_EQ(SocketGate("BindToDevice=wg0\n").socket.bind_to_device, "wg0");
  EXPECT_EQ(SocketGate("BindToDevice=wg0\nBindToDevice=\n").socket.bind_to_device, "");
  EXPECT_EQ(SocketGate("BindToDevice=wg0\nBindToDevice=*\n").socket.bind_to_device, "");
  EXPECT_THAT(SocketError("BindToDevice=averyveryverylongname\n"),
              HasSubstr("web.gate:3: BindToDevice=: \"averyveryverylongname\" is not an "
                        "interface name: longer than 15 bytes"));
  EXPECT_THAT(SocketError("BindToDevice=wg 0\n"), HasSubstr("BindToDevice="));
  EXPECT_THAT(SocketError("BindToDevice=%n\n"), HasSubstr("\"%\" is not allowed"));
}

TEST(SocketKeysTest, BindIPv6Only) {
  EXPECT_EQ(SocketGate("BindIPv6Only=both\n").socket.bind_ipv6_only, BindIPv6Only::kBoth);
  EXPECT_EQ(SocketGate("BindIPv6Only=ipv6-only\n").socket.bind_ipv6_only, BindIPv6Only::kIPv6Only);
  EXPECT_EQ(SocketGate("BindIPv6Only=yes\n").socket.bind_ipv6_only, BindIPv6Only::kIPv6Only);
  EXPECT_EQ(SocketGate("BindIPv6Only=no\n").socket.bind_ipv6_only, BindIPv6Only::kBoth);
  EXPECT_EQ(SocketGate("BindIPv6Only=both\nBindIPv6Only=default\n").socket.bind_ipv6_only,
            BindIPv6Only::kDefault);
  EXPECT_THAT(SocketError("BindIPv6Only=v6\n"),
              HasSubstr("BindIPv6Only=: \"v6\" is not one of default, both, ipv6-only"));
}

TEST(SocketKeysTest, Backlog) {
  EXPECT_EQ(SocketGate("Backlog=128\n").socket.backlog, 128u);
  EXPECT_EQ(SocketGate("Backlog=128\nBacklog=\n").socket.backlog, std::nullopt);
  EXPECT_THAT(SocketError("Backlog=-1\n"), HasSubstr("Backlog=: \"-1\" is not an unsigned"));
  EXPECT_THAT(SocketError("Backlog=2147483648\n"), HasSubstr("too large"));
}

TEST(SocketKeysTest, Booleans) {
  GateConfig gate = SocketGate("ReusePort=yes\nFreeBind=on\n");
  EXPECT_TRUE(gate.socket.reuse_port);
  EXPECT_TRUE(gate.socket.free_bind);
  EXPECT_FALSE(SocketGate("ReusePort=1\nReusePort=\n").socket.reuse_port);
  EXPECT_THAT(SocketError("FreeBind=maybe\n"), HasSubstr("FreeBind=: \"maybe\" is not a boolean"));
  EXPECT_THAT(SocketError("ReusePort=yes # comment\n"),
              HasSubstr("ReusePort=: \"yes # comment\" is not a boolean"));
}

TEST(SocketKeysTest, AcceptAndConnectionLimits) {
  LoadResult result = ParseWeb(
      "[Socket]\nListenStream=22\nAccept=yes\nMaxConnections=8\nMaxConnectionsPerSource=2\n"
      "[Service]\nExecStart=/usr/sbin/sshd -i\n");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(Errors(result));
  const SocketConfig& s = result.config.gates[0].socket;
  EXPECT_TRUE(s.accept);
  EXPECT_EQ(s.max_connections, 8u);
  EXPECT_EQ(s.max_connections_per_source, 2u);
  EXPECT_EQ(SocketGate("MaxConnections=8\nMaxConnections=\n").socket.max_connections, 64u);
  EXPECT_THAT(SocketError("MaxConnections=0\n"), HasSubstr("MaxConnections=: must be at least 1"));
  EXPECT_THAT(SocketError("MaxConnectionsPerSource=-2\n"), HasSubstr("MaxConnectionsPerSource="));
  EXPECT_THAT(SocketError("MaxConnections=4294967296\n"), HasSubstr("too large"));
  EXPECT_FALSE(SocketGate("Accept=no\n").socket.accept);
}

TEST(SocketKeysTest, AcceptNeedsAStreamListenerAndAService) {
  EXPECT_EQ(OnlyError("[Socket]\nListenDatagram=53\nAccept=yes\n[Service]\nExecStart=/bin/x\n"),
            "web.gate:3: Accept=yes cannot be used with a datagram listener "
            "(ListenDatagram=53 at web.gate:2)");
  EXPECT_EQ(OnlyError("[Socket]\nListenStream=22\nAccept=yes\n"),
            "web.gate:3: Accept=yes needs a service to hand each connection to: add [Service] "
            "ExecStart=");
  // Reset by a later Accept=no: no error.
  EXPECT_TRUE(ParseWeb("[Socket]\nListenDatagram=53\nAccept=yes\nAccept=no\n").ok());
}

TEST(SocketKeysTest, FileDescriptorName) {
  EXPECT_EQ(SocketGate("FileDescriptorName=https\n").socket.fd_name, "https");
  EXPECT_EQ(SocketGate("FileDescriptorName=%n-tls\n").socket.fd_name, "web-tls");
  EXPECT_EQ(SocketGate("FileDescriptorName=x\nFileDescriptorName=\n").socket.fd_name, "web");
  EXPECT_THAT(SocketError("FileDescriptorName=a:b\n"),
              HasSubstr("FileDescriptorName=: \"a:b\" is not a file descriptor name"));
  EXPECT_THAT(SocketError("FileDescriptorName=" + std::string(256, 'n') + "\n"),
              HasSubstr("longer than 255"));
  EXPECT_THAT(SocketError("FileDescriptorName=%i\n"),
              HasSubstr("web.gate:3: FileDescriptorName=: unknown specifier \"%i\""));
}

TEST(SocketKeysTest, UnixSocketOwnership) {
  GateConfig gate = SocketGate(
      "ListenStream=/run/web.sock\nSocketUser=www-data\nSocketGroup=adm\nSocketMode=0660\n");
  ASSERT_TRUE(gate.socket.socket_user.has_value());
  EXPECT_EQ(gate.socket.socket_user->name, "www-data");
  EXPECT_EQ(gate.socket.socket_user->uid, 33u);
  EXPECT_EQ(gate.socket.socket_group->gid, 4u);
  EXPECT_EQ(gate.socket.socket_mode, 0660u);
  gate = SocketGate("ListenStream=/run/x\nSocketUser=1234\nSocketGroup=5678\n");
  EXPECT_EQ(gate.socket.socket_user->uid, 1234u);
  EXPECT_EQ(gate.socket.socket_group->gid, 5678u);

  EXPECT_THAT(SocketError("ListenStream=/run/x\nSocketUser=nosuchuser\n"),
              HasSubstr("web.gate:4: SocketUser=: no such user \"nosuchuser\""));
  EXPECT_THAT(SocketError("ListenStream=/run/x\nSocketGroup=nosuchgroup\n"),
              HasSubstr("SocketGroup=: no such group \"nosuchgroup\""));
  EXPECT_THAT(SocketError("ListenStream=/run/x\nSocketMode=999\n"),
              HasSubstr("SocketMode=: \"999\" is not an octal file mode"));
}

TEST(SocketKeysTest, UnixOnlyKeysWithoutAUnixListener) {
  LoadResult result =
      ParseWeb("[Socket]\nListenStream=80\nSocketUser=root\nSocketGroup=root\nSocketMode=0600\n");
  EXPECT_THAT(Errors(result),
              ElementsAre(HasSubstr("web.gate:3: SocketUser= only applies to unix socket"),
                          HasSubstr("web.gate:4: SocketGroup= only applies"),
                          HasSubstr("web.gate:5: SocketMode= only applies")));
  // Set and reset again: nothing to complain about.
  EXPECT_TRUE(ParseWeb("[Socket]\nListenStream=80\nSocketMode=0600\nSocketMode=\n").ok());
}

TEST(SocketKeysTest, AddressListsKeepTheirOrigin) {
  GateConfig gate = SocketGate(
      "IPAddressDeny=any\nIPAddressAllow=192.0.2.0/24 2001:db8::/32\nIPAddressAllow=localhost\n");
  ASSERT_EQ(gate.socket.lists.deny.entries().size(), 2u);  // any: IPv4 and IPv6
  ASSERT_EQ(gate.socket.lists.allow.entries().size(), 4u);
  const policy::Entry& e = gate.socket.lists.allow.entries()[1];
  EXPECT_EQ(e.token, "2001:db8::/32");
  EXPECT_EQ(e.origin.file, "web.gate");
  EXPECT_EQ(e.origin.line, 4);
  EXPECT_EQ(e.origin.key, "IPAddressAllow");
  EXPECT_EQ(e.origin.ToString(), "web.gate:4 IPAddressAllow=");
  EXPECT_TRUE(SocketGate("IPAddressAllow=any\nIPAddressAllow=\n").socket.lists.allow.empty());
}

TEST(SocketKeysTest, AddressListErrorsComeFromThePolicyParser) {
  EXPECT_EQ(SocketError("IPAddressAllow=192.0.2.0/24 example.com\n"),
            "web.gate:3: IPAddressAllow=: invalid address prefix \"example.com\": not a numeric "
            "IP address (host names are not allowed)");
  // %n is no specifier here: systemd does not expand them in these keys.
  EXPECT_THAT(SocketError("IPAddressDeny=fe80::1%n\n"), HasSubstr("zone ids"));
}

TEST(SocketKeysTest, UnknownKeysAreErrorsWithHints) {
  EXPECT_EQ(SocketError("ListenSequentialPacket=/run/x\n"),
            "web.gate:3: unknown key \"ListenSequentialPacket=\" in [Socket]");
  EXPECT_EQ(SocketError("listenstream=81\n"),
            "web.gate:3: unknown key \"listenstream=\" in [Socket] (did you mean ListenStream=?)");
  EXPECT_EQ(SocketError("ExecStart=/bin/true\n"),
            "web.gate:3: unknown key \"ExecStart=\" in [Socket]: it belongs in [Service]");
}

TEST(SocketKeysTest, ExtensionKeysAreIgnoredWithAWarning) {
  LoadResult result = ParseWeb("[Socket]\nListenStream=80\nX-Owner=ops\n[X-Notes]\nAnything=1\n");
  EXPECT_THAT(Errors(result), IsEmpty());
  EXPECT_THAT(Warnings(result), ElementsAre("web.gate:3: ignoring extension key \"X-Owner=\"",
                                            "web.gate:4: ignoring extension section [X-Notes]"));
}

}  // namespace
}  // namespace gatekeeper::config
