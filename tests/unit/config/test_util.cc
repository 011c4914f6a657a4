#include "tests/unit/config/test_util.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace gatekeeper::config {

std::optional<uid_t> FakeResolver::Uid(std::string_view name) {
  asked.emplace_back(name);
  static const std::map<std::string, uid_t, std::less<>> kUsers = {
      {"root", 0}, {"www-data", 33}, {"nobody", 65534}, {"sshd", 101}};
  auto it = kUsers.find(name);
  if (it == kUsers.end()) return std::nullopt;
  return it->second;
}

std::optional<gid_t> FakeResolver::Gid(std::string_view name) {
  asked.emplace_back(name);
  static const std::map<std::string, gid_t, std::less<>> kGroups = {
      {"root", 0}, {"www-data", 33}, {"adm", 4}, {"nogroup", 65534}};
  auto it = kGroups.find(name);
  if (it == kGroups.end()) return std::nullopt;
  return it->second;
}

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/gk-config-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern << " failed";
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Write(const std::string& relative, std::string_view text) const {
  std::filesystem::path full = std::filesystem::path(path_) / relative;
  std::filesystem::create_directories(full.parent_path());
  std::ofstream out(full, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  EXPECT_TRUE(out.good()) << "writing " << full;
  return full.string();
}

std::vector<std::string> Errors(const LoadResult& result) {
  std::vector<std::string> out;
  for (const Diagnostic& d : result.errors) out.push_back(d.ToString());
  return out;
}

std::vector<std::string> Warnings(const LoadResult& result) {
  std::vector<std::string> out;
  for (const Diagnostic& d : result.warnings) out.push_back(d.ToString());
  return out;
}

LoadResult ParseWeb(std::string_view text, const std::vector<std::string>& dropins) {
  FakeResolver resolver;
  std::vector<SourceText> sources;
  for (size_t i = 0; i < dropins.size(); ++i) {
    sources.push_back(
        SourceText{"web.gate.d/" + std::to_string((i + 1) * 10) + ".conf", dropins[i]});
  }
  return ParseGate("web", SourceText{"web.gate", std::string(text)}, sources, resolver);
}

GateConfig SocketGate(std::string_view socket_lines) {
  LoadResult result = ParseWeb("[Socket]\nListenStream=80\n" + std::string(socket_lines));
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(Errors(result));
  if (result.config.gates.size() != 1) {
    ADD_FAILURE() << "no gate";
    return {};
  }
  return result.config.gates[0];
}

ServiceConfig ServiceGate(std::string_view service_lines) {
  LoadResult result =
      ParseWeb("[Socket]\nListenStream=80\n[Service]\n" + std::string(service_lines));
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(Errors(result));
  if (result.config.gates.size() != 1 || !result.config.gates[0].service.has_value()) {
    ADD_FAILURE() << "no service";
    return {};
  }
  return *result.config.gates[0].service;
}

std::string OnlyError(std::string_view text) {
  LoadResult result = ParseWeb(text);
  if (result.errors.size() != 1) {
    ADD_FAILURE() << "want exactly one error, got " << ::testing::PrintToString(Errors(result));
    return "";
  }
  return result.errors[0].ToString();
}

}  // namespace gatekeeper::config
