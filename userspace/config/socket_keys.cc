// The [Socket] keys of a gate file.
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "config/credentials.h"
#include "config/gate_builder.h"
#include "config/text_util.h"
#include "config/values.h"

namespace gatekeeper::config {
namespace {

constexpr uint32_t kDefaultMaxConnections = 64;
constexpr uint32_t kDefaultSocketMode = 0666;

absl::Status AddListener(GateBuilder& b, ListenSpec::Type type, const Assignment& a,
                         const std::string& value) {
  std::vector<ListenSpec>& listen = b.gate.socket.listen;
  if (value.empty()) {
    // systemd: an empty value of any Listen*= key drops every listener set so far.
    listen.clear();
    b.listen_index.clear();
    b.listen_failed = false;
    return absl::OkStatus();
  }
  absl::StatusOr<ListenSpec> spec = ParseListenSpec(type, value);
  if (!spec.ok()) {
    b.listen_failed = true;
    return spec.status();
  }
  spec->where = a.where;
  const auto [it, inserted] = b.listen_index.try_emplace(EndpointKey(*spec), listen.size());
  if (!inserted) {
    const ListenSpec& other = listen[it->second];
    return absl::AlreadyExistsError(absl::StrCat("duplicate listener ", spec->ToString(),
                                                 ": already set by ", Av(other.KeyName()), "= at ",
                                                 other.where.ToString()));
  }
  listen.push_back(*std::move(spec));
  return absl::OkStatus();
}

absl::Status SetBool(bool& field, const std::string& value) {
  if (value.empty()) {
    field = false;
    return absl::OkStatus();
  }
  absl::StatusOr<bool> parsed = ParseBoolean(value);
  if (!parsed.ok()) return parsed.status();
  field = *parsed;
  return absl::OkStatus();
}

absl::Status SetBindIPv6Only(BindIPv6Only& field, const std::string& value) {
  if (value.empty() || value == "default") {
    field = BindIPv6Only::kDefault;
  } else if (value == "both") {
    field = BindIPv6Only::kBoth;
  } else if (value == "ipv6-only") {
    field = BindIPv6Only::kIPv6Only;
  } else if (absl::StatusOr<bool> flag = ParseBoolean(value); flag.ok()) {
    field = *flag ? BindIPv6Only::kIPv6Only : BindIPv6Only::kBoth;  // systemd's reading
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(value), " is not one of default, both, ipv6-only"));
  }
  return absl::OkStatus();
}

absl::Status SetCount(uint32_t& field, uint32_t default_value, bool allow_zero,
                      const std::string& value) {
  if (value.empty()) {
    field = default_value;
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> n = ParseUnsigned(value, std::numeric_limits<uint32_t>::max());
  if (!n.ok()) return n.status();
  if (*n == 0 && !allow_zero) return absl::InvalidArgumentError("must be at least 1");
  field = static_cast<uint32_t>(*n);
  return absl::OkStatus();
}

// Remembers where a key was last given a value, so that a reset forgets it again.
void Track(std::optional<Location>& where, const Assignment& a, bool set) {
  where = set ? std::optional<Location>(a.where) : std::nullopt;
}

}  // namespace

absl::Status AssignAddressList(policy::AccessLists& lists, const Assignment& a,
                               const std::string& value) {
  // Every entry holds a copy of the key; fixed texts need no reference counting.
  static const policy::SharedText kAllow = policy::SharedText::Immortal("IPAddressAllow");
  static const policy::SharedText kDeny = policy::SharedText::Immortal("IPAddressDeny");
  const bool allow = a.key == "IPAddressAllow";
  policy::Origin origin;
  origin.file = a.where.file;
  origin.line = a.where.line;
  origin.key = allow ? kAllow : kDeny;
  return (allow ? lists.allow : lists.deny).Assign(value, origin);
}

void ReserveAddressLists(std::span<const UnitText> units, std::string_view section,
                         policy::AccessLists& lists) {
  size_t allow = 0;
  size_t deny = 0;
  for (const UnitText& unit : units) {
    for (const Assignment& a : unit.assignments) {
      if (a.section != section) continue;
      if (a.key == "IPAddressAllow") allow += policy::CountTokens(a.value);
      if (a.key == "IPAddressDeny") deny += policy::CountTokens(a.value);
    }
  }
  lists.allow.reserve(lists.allow.entries().size() + allow);
  lists.deny.reserve(lists.deny.entries().size() + deny);
}

std::vector<KeyHandler> SocketKeys(GateBuilder& b) {
  SocketConfig& s = b.gate.socket;
  auto keys = std::vector<KeyHandler>{
      {"Socket", "ListenStream", true,
       [&b](const Assignment& a, const std::string& v) {
         return AddListener(b, ListenSpec::Type::kStream, a, v);
       }},
      {"Socket", "ListenDatagram", true,
       [&b](const Assignment& a, const std::string& v) {
         return AddListener(b, ListenSpec::Type::kDatagram, a, v);
       }},
      {"Socket", "BindToDevice", false,
       [&s](const Assignment&, const std::string& v) {
         if (v.empty() || v == "*") {
           s.bind_to_device.clear();
           return absl::OkStatus();
         }
         if (absl::Status status = CheckInterfaceName(v); !status.ok()) return status;
         s.bind_to_device = v;
         return absl::OkStatus();
       }},
      {"Socket", "BindIPv6Only", false,
       [&s](const Assignment&, const std::string& v) {
         return SetBindIPv6Only(s.bind_ipv6_only, v);
       }},
      {"Socket", "Backlog", false,
       [&s](const Assignment&, const std::string& v) {
         if (v.empty()) {
           s.backlog.reset();
           return absl::OkStatus();
         }
         // listen() takes an int.
         absl::StatusOr<uint64_t> n = ParseUnsigned(v, std::numeric_limits<int32_t>::max());
         if (!n.ok()) return n.status();
         s.backlog = static_cast<uint32_t>(*n);
         return absl::OkStatus();
       }},
      {"Socket", "ReusePort", false,
       [&s](const Assignment&, const std::string& v) { return SetBool(s.reuse_port, v); }},
      {"Socket", "FreeBind", false,
       [&s](const Assignment&, const std::string& v) { return SetBool(s.free_bind, v); }},
      {"Socket", "Accept", false,
       [&b, &s](const Assignment& a, const std::string& v) {
         absl::Status status = SetBool(s.accept, v);
         if (status.ok()) Track(b.accept_where, a, s.accept);
         return status;
       }},
      {"Socket", "MaxConnections", false,
       [&s](const Assignment&, const std::string& v) {
         return SetCount(s.max_connections, kDefaultMaxConnections, false, v);
       }},
      {"Socket", "MaxConnectionsPerSource", false,
       [&s](const Assignment&, const std::string& v) {
         return SetCount(s.max_connections_per_source, 0, true, v);
       }},
      {"Socket", "FileDescriptorName", true,
       [&b, &s](const Assignment&, const std::string& v) {
         if (v.empty()) {
           s.fd_name = b.gate.name;
           return absl::OkStatus();
         }
         if (absl::Status status = CheckFdName(v); !status.ok()) return status;
         s.fd_name = v;
         return absl::OkStatus();
       }},
      {"Socket", "SocketUser", true,
       [&b, &s](const Assignment& a, const std::string& v) {
         if (v.empty()) {
           s.socket_user.reset();
         } else {
           absl::StatusOr<UserRef> user = ResolveUser(v, b.resolver);
           if (!user.ok()) return user.status();
           s.socket_user = *std::move(user);
         }
         Track(b.socket_user_where, a, s.socket_user.has_value());
         return absl::OkStatus();
       }},
      {"Socket", "SocketGroup", true,
       [&b, &s](const Assignment& a, const std::string& v) {
         if (v.empty()) {
           s.socket_group.reset();
         } else {
           absl::StatusOr<GroupRef> group = ResolveGroup(v, b.resolver);
           if (!group.ok()) return group.status();
           s.socket_group = *std::move(group);
         }
         Track(b.socket_group_where, a, s.socket_group.has_value());
         return absl::OkStatus();
       }},
      {"Socket", "SocketMode", false,
       [&b, &s](const Assignment& a, const std::string& v) {
         if (v.empty()) {
           s.socket_mode = kDefaultSocketMode;
         } else {
           absl::StatusOr<uint32_t> mode = ParseMode(v);
           if (!mode.ok()) return mode.status();
           s.socket_mode = *mode;
         }
         Track(b.socket_mode_where, a, !v.empty());
         return absl::OkStatus();
       }},
  };
  for (std::string_view key : {"IPAddressAllow", "IPAddressDeny"}) {
    keys.push_back({"Socket", key, false, [&s](const Assignment& a, const std::string& v) {
                      return AssignAddressList(s.lists, a, v);
                    }});
  }
  return keys;
}

}  // namespace gatekeeper::config
