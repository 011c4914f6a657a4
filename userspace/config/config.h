// gatekeeper's configuration: gate files (/etc/gatekeeper/NAME.gate plus drop-ins in
// NAME.gate.d/*.conf) and the host file gatekeeper.conf, in systemd.unit(5) syntax.
//
// Syntax as in systemd: [Section] headers; whole-line "#"/";" comments (no trailing comments:
// "Accept=no # x" is the value "no # x"); a line ending in "\" continues on the next, the
// backslash becoming a space; keys and values trimmed; an empty assignment ("Key=") resets the
// key to its default, and list keys to empty. "%n" is the gate name and "%%" a "%" in the keys
// where systemd expands specifiers (Listen*=, FileDescriptorName=, Socket{User,Group}=,
// ExecStart=, User=, Group=, Environment=, WorkingDirectory=). Unknown sections and keys are
// errors; "X-" sections and keys, systemd's extension points, are ignored with a warning.
//
// [Socket]                     (as in systemd.socket(5) unless said otherwise)
//   ListenStream=, ListenDatagram=  PORT (dual-stack [::]:PORT), IPV4:PORT, [IPV6]:PORT or
//                                   /path; repeatable; an empty value resets every listener
//   BindToDevice=                   wait for this interface, bind to it; empty or "*" resets
//   BindIPv6Only=                   default | both | ipv6-only (or a boolean)
//   Backlog=, ReusePort=, FreeBind=, Accept=
//   MaxConnections= (Accept=yes; default 64), MaxConnectionsPerSource= (default 0: no limit)
//   FileDescriptorName=             LISTEN_FDNAMES entry; default: the gate name
//   SocketUser=, SocketGroup=, SocketMode=  unix listeners only (default mode 0666)
//   IPAddressAllow=, IPAddressDeny= the socket scope (systemd.resource-control(5))
// [Service]                    optional: without it the gate only owns the socket
//   ExecStart=                      one command line, split like systemd, no shell; the first
//                                   word is an absolute path; prefixes (-@+!:) not supported;
//                                   $NAME, ${NAME} and $$ are kept as written here and expanded
//                                   when the service starts (activation/command_line.h)
//   User=, Group=                   names or numeric ids; names must exist
//   Environment=                    VAR=VALUE words; repeatable; empty resets
//   WorkingDirectory=               absolute path
//   Restart=                        no (default) | on-failure | always
//   RestartSec=                     time span; default 100ms
//   Start=                          gatekeeper's own: "on-connection" (default) starts the
//                                   service on the first connection, like socket activation;
//                                   "immediately" starts it as soon as the listener exists
//   StandardInput=                  null (default) | socket: with Accept=yes, the connection is
//                                   stdin and stdout too (inetd style, e.g. sshd -i)
//   IPAddressAllow=, IPAddressDeny= the service scope: sockets the service opens itself
// gatekeeper.conf: [Host] IPAddressAllow=, IPAddressDeny= (host scope);
//                  [Control] Group= (may use the control socket besides root)
#ifndef GATEKEEPER_CONFIG_CONFIG_H_
#define GATEKEEPER_CONFIG_CONFIG_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "config/diagnostic.h"
#include "config/listen_spec.h"
#include "config/user_resolver.h"
#include "policy/access_list.h"

namespace gatekeeper::config {

// A User=/Group= value: the name as written (may be numeric text, for the spawner's
// initgroups()) and the id it stands for.
struct UserRef {
  std::string name;
  uid_t uid = 0;
};
struct GroupRef {
  std::string name;
  gid_t gid = 0;
};

enum class BindIPv6Only { kDefault, kBoth, kIPv6Only };
enum class Restart { kNo, kOnFailure, kAlways };
enum class Start { kOnConnection, kImmediately };
enum class StandardInput { kNull, kSocket };

struct SocketConfig {
  std::vector<ListenSpec> listen;  // in assignment order
  std::string bind_to_device;      // empty: not bound
  BindIPv6Only bind_ipv6_only = BindIPv6Only::kDefault;
  std::optional<uint32_t> backlog;  // nullopt: the kernel's maximum, as systemd does
  bool reuse_port = false;
  bool free_bind = false;
  bool accept = false;
  uint32_t max_connections = 64;
  uint32_t max_connections_per_source = 0;  // 0: no limit
  std::string fd_name;                      // LISTEN_FDNAMES; the gate name unless set
  std::optional<UserRef> socket_user;       // unix listeners only
  std::optional<GroupRef> socket_group;
  uint32_t socket_mode = 0666;
  policy::AccessLists lists;
};

struct ServiceConfig {
  std::vector<std::string> exec_start;  // argv; exec_start[0] is an absolute path
  Location exec_start_where;
  std::optional<UserRef> user;
  std::optional<GroupRef> group;
  std::vector<std::string> environment;  // "VAR=VALUE"; a later VAR replaces an earlier one
  std::string working_directory;         // empty: not set
  Restart restart = Restart::kNo;
  absl::Duration restart_sec = absl::Milliseconds(100);
  Start start = Start::kOnConnection;
  // StandardInput=socket (Accept=yes only): the connection is also stdin and stdout, for inetd
  // style programs such as "sshd -i"; stderr still goes to gatekeeper's log.
  StandardInput standard_input = StandardInput::kNull;
  policy::AccessLists lists;
};

struct GateConfig {
  std::string name;  // file name without ".gate"
  std::string file;  // the main file as given
  Location where;    // the [Socket] header, else line 1
  SocketConfig socket;
  std::optional<ServiceConfig> service;  // set exactly when ExecStart= is
};

struct HostConfig {
  policy::AccessLists lists;
  std::optional<gid_t> control_group;
};

struct Config {
  HostConfig host;
  std::vector<GateConfig> gates;  // sorted by name
};

// Errors make the whole configuration unusable; `config` then holds what could be understood,
// for tests and messages only. Warnings never do.
struct LoadResult {
  Config config;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;

  bool ok() const { return errors.empty(); }
};

// Reads DIR/gatekeeper.conf if present and every DIR/*.gate (hidden files skipped) with its
// drop-ins DIR/NAME.gate.d/*.conf, applied in lexical order after the main file. Other files are
// ignored. Every problem is collected; loading never stops at the first.
LoadResult LoadConfigDir(const std::string& dir, UserResolver& resolver);

// The same for an explicit list: NAME.gate files (with their drop-ins) and at most one
// gatekeeper.conf. Any other path is an error.
LoadResult LoadFiles(const std::vector<std::string>& paths, UserResolver& resolver);

// Text-level entry points, for tests and fuzzers; they touch no file system.
struct SourceText {
  std::string file;  // the name used in diagnostics
  std::string text;
};

// One gate from its main text and its drop-ins (already in order). On errors the gates vector
// of the result still holds the gate as far as it was understood.
LoadResult ParseGate(const std::string& name, const SourceText& main,
                     const std::vector<SourceText>& dropins, UserResolver& resolver);

// gatekeeper.conf alone.
LoadResult ParseHostConfig(const SourceText& source, UserResolver& resolver);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_CONFIG_CONFIG_H_
