#include "ringpool/topology/cpu_set.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "ringpool/topology/errors.hpp"

namespace ringpool::topology {
namespace {

TEST(CpuSet, ParsesAndPrintsLinuxCpuLists) {
  const CpuSet set = CpuSet::from_list("0-3,8");
  EXPECT_EQ(set.count(), 5U);
  EXPECT_EQ(set.to_list(), "0-3,8");
  EXPECT_EQ(CpuSet::from_list("8,3,2,1,0").to_list(), "0-3,8");
  EXPECT_EQ(CpuSet::from_list(" 5\n").to_list(), "5");
  EXPECT_EQ(CpuSet::from_list("1,2,4-5,7").to_list(), "1-2,4-5,7");
  EXPECT_EQ(CpuSet::from_list("63-65,200").to_vector(), (std::vector<unsigned>{63, 64, 65, 200}));
  EXPECT_TRUE(CpuSet::from_list("").empty());
  EXPECT_EQ(CpuSet{}.to_list(), "");
}

TEST(CpuSet, RejectsMalformedListsWithTheBadPartNamed) {
  for (const char* bad :
       {"a", "1,,2", "3-1", "-1", "1-", "1-2-3", ",", "1,", "0x3", "1 2", "99999999999", "65536"}) {
    try {
      (void)CpuSet::from_list(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const TopologyError& e) {
      EXPECT_EQ(e.code(), TopologyErrc::invalid_argument) << bad;
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos)
          << e.what();
    }
  }
}

// Forms hwloc_bitmap_list_sscanf reads without complaint but that are not a Linux
// cpulist, or that it reads differently: each must be refused with the list named.
TEST(CpuSet, RejectsWhatHwlocWouldReadSilently) {
  for (const char* bad : {"3-", "0-", "010", "00-3", "0x10", "1x", "1-2-3", "1 ,2", "1, 2", "+1",
                          "2-1", "1,2,", ",1", "4000000000", "0-65536"}) {
    try {
      (void)CpuSet::from_list(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const TopologyError& e) {
      EXPECT_EQ(e.code(), TopologyErrc::invalid_argument) << bad;
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos)
          << e.what();
    }
  }
}

TEST(CpuSet, ListsRoundTripAtTheEdges) {
  EXPECT_EQ(CpuSet::from_list("0").to_list(), "0");
  EXPECT_EQ(CpuSet::from_list("7,5-6").to_list(), "5-7");
  EXPECT_EQ(CpuSet::from_list("3-3").to_list(), "3");
  EXPECT_EQ(CpuSet::from_list("10,0").to_vector(), (std::vector<unsigned>{0, 10}));
  const CpuSet all = CpuSet::from_list("0-65535");
  EXPECT_EQ(all.count(), std::size_t{CpuSet::kMaxCpus});
  EXPECT_EQ(all.to_list(), "0-65535");
  EXPECT_EQ(CpuSet::from_list("63,64,127-128").to_list(), "63-64,127-128");
  EXPECT_EQ(CpuSet::from_list("65535").last(), CpuSet::kMaxCpus - 1);
}

TEST(CpuSet, MembershipFirstLastAndIterationInAscendingOrder) {
  CpuSet set{70, 3, 64, 5};
  EXPECT_TRUE(set.contains(64));
  EXPECT_FALSE(set.contains(4));
  EXPECT_FALSE(set.contains(100000));
  EXPECT_EQ(set.first(), 3U);
  EXPECT_EQ(set.last(), 70U);
  std::vector<unsigned> seen;
  for (unsigned cpu : set) seen.push_back(cpu);
  EXPECT_EQ(seen, (std::vector<unsigned>{3, 5, 64, 70}));
  set.erase(70);
  set.erase(64);
  EXPECT_EQ(set.last(), 5U);
  EXPECT_EQ(set.words().size(), 1U);  // trailing zero words are dropped
  EXPECT_FALSE(CpuSet{}.first().has_value());
  EXPECT_EQ(CpuSet{}.begin(), CpuSet{}.end());
}

TEST(CpuSet, SetOperationsAndEquality) {
  const CpuSet a = CpuSet::from_list("0-7");
  const CpuSet b = CpuSet::from_list("4-11,100");
  EXPECT_EQ((a | b).to_list(), "0-11,100");
  EXPECT_EQ((a & b).to_list(), "4-7");
  EXPECT_EQ((a - b).to_list(), "0-3");
  EXPECT_EQ((b - a).to_list(), "8-11,100");
  EXPECT_TRUE((a & b).is_subset_of(a));
  EXPECT_FALSE(b.is_subset_of(a));
  EXPECT_TRUE(CpuSet{}.is_subset_of(a));
  EXPECT_TRUE(a.intersects(b));
  EXPECT_FALSE(a.intersects(CpuSet{100}));
  EXPECT_EQ(b - CpuSet{100}, CpuSet::from_list("4-11"));  // equality ignores capacity
  EXPECT_NE(a, b);
  EXPECT_EQ(CpuSet::range(2, 4), CpuSet::from_list("2-4"));
}

TEST(CpuSet, RejectsIndexesBeyondTheMaximum) {
  CpuSet set;
  EXPECT_THROW(set.insert(CpuSet::kMaxCpus), TopologyError);
  EXPECT_THROW((void)CpuSet::range(5, 4), TopologyError);
  EXPECT_NO_THROW(set.insert(CpuSet::kMaxCpus - 1));
  EXPECT_EQ(set.last(), CpuSet::kMaxCpus - 1);
}

}  // namespace
}  // namespace ringpool::topology
