// Helpers shared by the gk_config tests.
#ifndef GATEKEEPER_TESTS_UNIT_CONFIG_TEST_UTIL_H_
#define GATEKEEPER_TESTS_UNIT_CONFIG_TEST_UTIL_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/user_resolver.h"

namespace gatekeeper::config {

// Knows root, www-data, nobody, sshd (users) and root, www-data, adm, nogroup (groups).
class FakeResolver : public UserResolver {
 public:
  std::optional<uid_t> Uid(std::string_view name) override;
  std::optional<gid_t> Gid(std::string_view name) override;

  std::vector<std::string> asked;  // every name looked up, in order
};

// A directory under $TMPDIR (or /tmp) removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `text` to path()/relative, creating parent directories; returns the full path.
  std::string Write(const std::string& relative, std::string_view text) const;

 private:
  std::string path_;
};

// "FILE:LINE: message" for each error / warning.
std::vector<std::string> Errors(const LoadResult& result);
std::vector<std::string> Warnings(const LoadResult& result);

// Parses a gate "web" from the text of web.gate and optional drop-ins named 10.conf, 20.conf...
// (as web.gate.d/10.conf).
LoadResult ParseWeb(std::string_view text, const std::vector<std::string>& dropins = {});

// ParseWeb of "[Socket]\nListenStream=80\n" + `socket_lines`, expected to succeed; the gate.
GateConfig SocketGate(std::string_view socket_lines);
// ParseWeb with a [Socket] listener and "[Service]\n" + `service_lines`, expected to succeed.
ServiceConfig ServiceGate(std::string_view service_lines);

// The single error of parsing `text` as web.gate ("" and a failure when there is not exactly
// one).
std::string OnlyError(std::string_view text);

}  // namespace gatekeeper::config

#endif  // GATEKEEPER_TESTS_UNIT_CONFIG_TEST_UTIL_H_
