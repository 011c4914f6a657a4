#include "activation/environment.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gatekeeper::activation {
namespace {

constexpr size_t kFdNameMax = 255;  // systemd's FDNAME_MAX

std::string AddressText(int family, const void* address) {
  char text[INET6_ADDRSTRLEN] = {};
  return inet_ntop(family, address, text, sizeof(text)) != nullptr ? text : "";
}

}  // namespace

bool IsSupervisorVariable(absl::string_view name) {
  return name == "NOTIFY_SOCKET" || name == "WATCHDOG_PID" || name == "WATCHDOG_USEC" ||
         absl::StartsWith(name, "LISTEN_");
}

absl::Status ValidateFdName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("file descriptor name is empty");
  if (name.size() > kFdNameMax) {
    return absl::InvalidArgumentError(absl::StrCat("file descriptor name \"", name.substr(0, 32),
                                                   "...\" is longer than ", kFdNameMax,
                                                   " characters"));
  }
  for (const char c : name) {
    if (c == ':') {
      return absl::InvalidArgumentError(absl::StrCat(
          "file descriptor name \"", name, "\" contains ':', the LISTEN_FDNAMES separator"));
    }
    if (static_cast<unsigned char>(c) < ' ' || static_cast<unsigned char>(c) >= 127) {
      return absl::InvalidArgumentError(absl::StrCat(
          "file descriptor name \"", name, "\" contains a non-printable or non-ASCII character"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ComposeEnvironment(
    const std::vector<std::string>& environment, const std::vector<std::string>& fd_names) {
  std::vector<std::string> result;
  // Name -> index in `result`, so a repeated name replaces the earlier value in place.
  absl::flat_hash_map<std::string, size_t> index;
  for (const std::string& entry : environment) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment entry \"", entry, "\" is not NAME=VALUE"));
    }
    std::string name = entry.substr(0, eq);
    if (IsSupervisorVariable(name)) continue;
    auto [it, inserted] = index.try_emplace(std::move(name), result.size());
    if (inserted) {
      result.push_back(entry);
    } else {
      result[it->second] = entry;
    }
  }
  if (fd_names.empty()) return result;
  for (const std::string& name : fd_names) {
    if (absl::Status s = ValidateFdName(name); !s.ok()) return s;
  }
  result.push_back(absl::StrCat("LISTEN_FDS=", fd_names.size()));
  result.push_back(absl::StrCat("LISTEN_FDNAMES=", absl::StrJoin(fd_names, ":")));
  return result;
}

std::vector<std::string> RemoteEnvironment(const sockaddr* peer, socklen_t length) {
  if (peer == nullptr) return {};
  std::string address;
  uint16_t port = 0;
  if (peer->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    std::memcpy(&in, peer, sizeof(in));
    address = AddressText(AF_INET, &in.sin_addr);
    port = ntohs(in.sin_port);
  } else if (peer->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    std::memcpy(&in6, peer, sizeof(in6));
    port = ntohs(in6.sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      address = AddressText(AF_INET, &in6.sin6_addr.s6_addr[12]);
    } else {
      address = AddressText(AF_INET6, &in6.sin6_addr);
      if (in6.sin6_scope_id != 0) {
        // systemd names the interface when it still exists, else prints the index.
        char name[IF_NAMESIZE] = {};
        absl::StrAppend(&address, "%",
                        if_indextoname(in6.sin6_scope_id, name) != nullptr
                            ? std::string(name)
                            : absl::StrCat(in6.sin6_scope_id));
      }
    }
  } else {
    return {};
  }
  if (address.empty()) return {};
  return {absl::StrCat("REMOTE_ADDR=", address), absl::StrCat("REMOTE_PORT=", port)};
}

std::vector<std::string> RemoteEnvironmentOf(int connection_fd) {
  sockaddr_storage peer{};
  socklen_t length = sizeof(peer);
  if (getpeername(connection_fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return {};
  return RemoteEnvironment(reinterpret_cast<const sockaddr*>(&peer), length);
}

}  // namespace gatekeeper::activation
