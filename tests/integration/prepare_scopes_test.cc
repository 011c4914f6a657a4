// Engine::PrepareScopes: scopes built at once, from several threads, then taken by AttachScope.
// Each must filter with its own policy, as if attached one after the other.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernel/cgroup_programs.h"
#include "tests/integration/engine_fixture.h"

namespace gatekeeper::testing {
namespace {

using common::UniqueFd;
using kernel::Direction;
using std::chrono::milliseconds;

constexpr milliseconds kIo{5000};

uint64_t BootTimeNs() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

std::vector<uint32_t> AttachedIds(const std::string& cgroup) {
  std::vector<uint32_t> ids;
  auto programs = kernel::EffectivePrograms(cgroup);
  EXPECT_TRUE(programs.ok()) << programs.status();
  if (programs.ok()) {
    for (const kernel::AttachedProgram& p : *programs) ids.push_back(p.id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

class PrepareScopesTest : public EngineFixture {
 protected:
  // The server side of `scope` lets `allowed` in and drops `denied`'s SYN.
  void ExpectFilters(kernel::Scope* scope, const std::string& allowed, const std::string& denied) {
    SCOPED_TRACE(scope->name());
    UniqueFd listener = ListenIn(scope->spec().cgroup_path, kServerV4, SOCK_STREAM);
    ASSERT_TRUE(listener.valid());
    EchoServer echo(listener.get());
    const uint16_t port = LocalPort(listener.get());
    UniqueFd ok = StartConnect(*cli_, allowed, kServerV4, port);
    ASSERT_TRUE(WaitConnected(ok.get(), kIo));
    EXPECT_TRUE(Exchange(ok.get(), kIo));
    const kernel::ScopeStats before = Stats(scope);
    UniqueFd bad = StartConnect(*cli_, denied, kServerV4, port);
    ASSERT_TRUE(bad.valid());
    ASSERT_TRUE(WaitDenied(scope, before, Direction::kIngress, 1));
    EXPECT_EQ(echo.accepted(), 1);
  }
};

TEST_F(PrepareScopesTest, PreparedScopesFilterWithTheirOwnPolicyAndAreTakenNotRebuilt) {
  if (!ready_) return;
  std::vector<kernel::Engine::ScopeRequest> requests;
  for (int i = 0; i < 6; ++i) {
    // Alternating policies, so that a scope built with its neighbour's would let the wrong
    // peer in.
    const bool even = i % 2 == 0;
    requests.push_back({Spec(absl::StrCat("p", i, ".socket"), 10 + i),
                        policy::Share(Policy(even ? kAllowedV4 : kDeniedV4, "any"))});
  }
  engine_->PrepareScopes(requests);
  const uint64_t prepared_by = BootTimeNs();  // later than every generation issued so far

  std::vector<std::vector<uint32_t>> prepared_ids;
  for (const auto& r : requests) {
    // Built and attached to the cgroup already, but not yet the engine's.
    EXPECT_EQ(engine_->FindScope(r.spec.name), nullptr);
    prepared_ids.push_back(AttachedIds(r.spec.cgroup_path));
    EXPECT_EQ(prepared_ids.back().size(), 2u) << r.spec.name;
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    auto scope = engine_->AttachScope(requests[i].spec, *requests[i].policy);
    ASSERT_TRUE(scope.ok()) << scope.status();
    std::vector<uint32_t> ids = (*scope)->ProgramIds();
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, prepared_ids[i]) << requests[i].spec.name;
    // Taken as prepared: adopting the pins again would have swapped in a policy of a newer
    // generation.
    EXPECT_LT((*scope)->policy_generation(), prepared_by) << requests[i].spec.name;
    EXPECT_EQ(AttachedIds(requests[i].spec.cgroup_path).size(), 2u);
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    kernel::Scope* scope = engine_->FindScope(requests[i].spec.name);
    ASSERT_NE(scope, nullptr);
    if (i % 2 == 0) {
      ExpectFilters(scope, kAllowedV4, kDeniedV4);
    } else {
      ExpectFilters(scope, kDeniedV4, kAllowedV4);
    }
  }
}

TEST_F(PrepareScopesTest, AttachWithAnotherPolicyAdoptsThePreparedScopeAndSwapsItsPolicy) {
  if (!ready_) return;
  const kernel::ScopeSpec spec = Spec("swap.socket");
  const kernel::Engine::ScopeRequest request{spec, policy::Share(Policy(kAllowedV4, "any"))};
  engine_->PrepareScopes({&request, 1});
  const uint64_t prepared_by = BootTimeNs();
  const std::vector<uint32_t> prepared = AttachedIds(spec.cgroup_path);
  ASSERT_EQ(prepared.size(), 2u);

  const policy::CompiledPolicy other = Policy(kDeniedV4, "any");
  auto scope = engine_->AttachScope(spec, other);
  ASSERT_TRUE(scope.ok()) << scope.status();
  std::vector<uint32_t> ids = (*scope)->ProgramIds();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, prepared);                               // its links, adopted, not a second pair
  EXPECT_GT((*scope)->policy_generation(), prepared_by);  // the other policy, swapped in
  ExpectFilters(*scope, kDeniedV4, kAllowedV4);
}

TEST_F(PrepareScopesTest, AFailedBuildIsReportedByAttach) {
  if (!ready_) return;
  kernel::ScopeSpec spec = Spec("bad.socket");
  spec.cgroup_path = "/proc/gk-no-such-cgroup/bad.socket";  // not in the cgroup2 mount
  const kernel::Engine::ScopeRequest request{spec, policy::Share(Policy(kAllowedV4, "any"))};
  engine_->PrepareScopes({&request, 1});
  auto scope = engine_->AttachScope(spec, *request.policy);
  ASSERT_FALSE(scope.ok());
  EXPECT_NE(scope.status().message().find("/proc/gk-no-such-cgroup"), std::string::npos)
      << scope.status();
  EXPECT_EQ(engine_->FindScope(spec.name), nullptr);
}

}  // namespace
}  // namespace gatekeeper::testing
