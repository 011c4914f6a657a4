#include "tests/e2e/daemon_fixture.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace gatekeeper::testing {

void DaemonTest::SetUp() {
  GK_REQUIRE_ROOT();
  srv_ = std::make_unique<Netns>(UniqueName("gks"));
  cli_ = std::make_unique<Netns>(UniqueName("gkc"));
  client_if_ =
      ConnectNamespaces(*srv_, absl::StrCat(kServer, "/24"), *cli_, absl::StrCat(kClient, "/24"))
          .second;
}

void DaemonTest::TearDown() {
  if (HasFailure() && daemon_) std::fprintf(stderr, "daemon log:\n%s\n", daemon_->Log().c_str());
  daemon_.reset();
  cli_.reset();
  srv_.reset();
}

void DaemonTest::StartDaemon(const std::map<std::string, std::string>& files) {
  daemon_ = std::make_unique<DaemonProcess>(files);
  ASSERT_TRUE(daemon_->Start(*srv_));
}

common::UniqueFd DaemonTest::Connect(uint16_t port) {
  common::UniqueFd fd = StartConnect(*cli_, kClient, kServer, port);
  EXPECT_TRUE(WaitConnected(fd.get(), std::chrono::seconds(5)));
  return fd;
}

}  // namespace gatekeeper::testing
