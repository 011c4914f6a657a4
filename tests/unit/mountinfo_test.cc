#include "kernel/mountinfo.h"

#include "gtest/gtest.h"
#include "kernel/cgroup.h"

namespace gatekeeper::kernel {
namespace {

// Lines as found on a hybrid-layout host (this machine) and on a unified one.
constexpr char kHybrid[] =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr char kUnified[] =
    "24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "28 22 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

TEST(MountinfoTest, FindsHybridLayout) {
  EXPECT_EQ(FindCgroup2Mount(kHybrid), "/sys/fs/cgroup/unified");
}

TEST(MountinfoTest, FindsUnifiedLayoutWithOptionalFields) {
  EXPECT_EQ(FindCgroup2Mount(kUnified), "/sys/fs/cgroup");
}

TEST(MountinfoTest, CgroupV1OnlyHasNone) {
  EXPECT_EQ(FindCgroup2Mount("31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"),
            std::nullopt);
  EXPECT_EQ(FindCgroup2Mount(""), std::nullopt);
}

TEST(MountinfoTest, DecodesOctalEscapes) {
  EXPECT_EQ(FindCgroup2Mount("40 30 0:37 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw\n"),
            "/mnt/cg two");
}

TEST(MountinfoTest, IgnoresMalformedLines) {
  EXPECT_EQ(FindCgroup2Mount("garbage\n40 30 0:37 / /x rw cgroup2\n- cgroup2\n"), std::nullopt);
}

TEST(CgroupLevelTest, CountsComponentsBelowTheMount) {
  EXPECT_EQ(*CgroupLevel("/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified"), 0u);
  EXPECT_EQ(*CgroupLevel("/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified/gk/gates"), 2u);
  EXPECT_EQ(*CgroupLevel("/sys/fs/cgroup", "/sys/fs/cgroup/a/b/c/"), 3u);
  EXPECT_FALSE(CgroupLevel("/sys/fs/cgroup/unified", "/sys/fs/cgroup/cpu").ok());
  EXPECT_FALSE(CgroupLevel("/sys/fs/cgroup", "/tmp").ok());
}

}  // namespace
}  // namespace gatekeeper::kernel
