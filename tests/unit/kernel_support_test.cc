#include "kernel/kernel_support.h"

#include <cerrno>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::kernel {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class FakeProbe : public KernelProbe {
 public:
  std::optional<std::string> cgroup2 = "/sys/fs/cgroup";
  int bpf = 0, cgroup_skb = 0, lpm = 0, map_in_map = 0, ringbuf = 0, cgroup_bpf = 0;

  std::optional<std::string> Cgroup2Mount() override { return cgroup2; }
  int Bpf() override { return bpf; }
  int CgroupSkbProgram() override { return cgroup_skb; }
  int LpmTrieMap() override { return lpm; }
  int MapInMap() override { return map_in_map; }
  int RingBufMap() override { return ringbuf; }
  int CgroupBpf(const std::string&) override { return cgroup_bpf; }
};

TEST(KernelSupportTest, AllPresentIsOk) {
  FakeProbe probe;
  EXPECT_TRUE(CheckKernelSupport(probe).ok());
}

TEST(KernelSupportTest, NoCgroupV2SaysHowToMountIt) {
  FakeProbe probe;
  probe.cgroup2 = std::nullopt;
  const absl::Status s = CheckKernelSupport(probe);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("cgroup v2"), HasSubstr("mount -t cgroup2"),
                                 HasSubstr("systemd.unified_cgroup_hierarchy")));
}

TEST(KernelSupportTest, NoPermissionNamesRootAndCapabilities) {
  FakeProbe probe;
  probe.bpf = EPERM;
  const absl::Status s = CheckKernelSupport(probe);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("root"), HasSubstr("CAP_BPF"), HasSubstr("seccomp")));
}

TEST(KernelSupportTest, NoBpfSyscall) {
  FakeProbe probe;
  probe.bpf = ENOSYS;
  const absl::Status s = CheckKernelSupport(probe);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("CONFIG_BPF_SYSCALL"));
}

TEST(KernelSupportTest, NoCgroupSkbPrograms) {
  FakeProbe probe;
  probe.cgroup_skb = EINVAL;
  const absl::Status s = CheckKernelSupport(probe);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("cgroup_skb"), HasSubstr("CONFIG_CGROUP_BPF")));
}

TEST(KernelSupportTest, EachMissingMapTypeIsNamed) {
  struct Case {
    int FakeProbe::*field;
    const char* what;
  };
  for (const Case& c :
       {Case{&FakeProbe::lpm, "LPM trie"}, Case{&FakeProbe::map_in_map, "array-of-maps"},
        Case{&FakeProbe::ringbuf, "ring buffer"}}) {
    FakeProbe probe;
    probe.*c.field = EINVAL;
    const absl::Status s = CheckKernelSupport(probe);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << c.what;
    EXPECT_THAT(s.message(), HasSubstr(c.what));
  }
}

TEST(KernelSupportTest, CgroupBpfUnsupportedOrRefused) {
  FakeProbe probe;
  probe.cgroup_bpf = EINVAL;
  absl::Status s = CheckKernelSupport(probe);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("/sys/fs/cgroup"), HasSubstr("CONFIG_CGROUP_BPF")));

  probe.cgroup_bpf = EPERM;
  s = CheckKernelSupport(probe);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace gatekeeper::kernel
