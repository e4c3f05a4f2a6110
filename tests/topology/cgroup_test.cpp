#include "ringpool/topology/detail/cgroup.hpp"

#include <gtest/gtest.h>

#include "ringpool/topology/errors.hpp"

namespace ringpool::topology::detail {
namespace {

TEST(Cgroup, ParsesCpuMax) {
  EXPECT_FALSE(parse_cpu_max("max 100000\n").has_value());
  EXPECT_DOUBLE_EQ(*parse_cpu_max("150000 100000\n"), 1.5);
  EXPECT_DOUBLE_EQ(*parse_cpu_max("50000 100000"), 0.5);
  for (const char* bad : {"", "max", "abc 100000", "100000 0", "-5 100000", "1 2 3"}) {
    EXPECT_THROW((void)parse_cpu_max(bad), TopologyError) << bad;
  }
}

TEST(Cgroup, ParsesCfsQuota) {
  EXPECT_FALSE(parse_cfs_quota("-1\n", "100000\n").has_value());
  EXPECT_DOUBLE_EQ(*parse_cfs_quota("250000", "100000"), 2.5);
  EXPECT_THROW((void)parse_cfs_quota("x", "100000"), TopologyError);
  EXPECT_THROW((void)parse_cfs_quota("1000", "0"), TopologyError);
}

TEST(Cgroup, FindsTheCgroupPath) {
  const char* v1 = "12:cpu,cpuacct:/docker/abc\n4:memory:/m\n0::/system.slice/x.service\n";
  EXPECT_EQ(cgroup_path(v1, "cpu"), "/docker/abc");
  EXPECT_EQ(cgroup_path(v1, "cpuacct"), "/docker/abc");
  EXPECT_EQ(cgroup_path(v1, ""), "/system.slice/x.service");
  EXPECT_FALSE(cgroup_path(v1, "cpuset").has_value());
  EXPECT_EQ(cgroup_path("0::/\n", ""), "/");
  EXPECT_FALSE(cgroup_path("garbage", "").has_value());
}

}  // namespace
}  // namespace ringpool::topology::detail
