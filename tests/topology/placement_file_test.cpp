#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "ringpool/topology/errors.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::topology {
namespace {

// A file in a private temporary directory, removed with it.
class PlacementFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ringpool-placement-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/placement.txt";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    ::rmdir(dir_.c_str());
    ::unsetenv("RINGPOOL_PLACEMENT");
  }
  void write(const std::string& content) { std::ofstream(path_, std::ios::trunc) << content; }

  // Loading must fail with `code`, naming the file and, when line > 0, the line.
  void expect_rejected(const std::string& content, std::size_t line,
                       TopologyErrc code = TopologyErrc::invalid_argument) {
    write(content);
    try {
      (void)load_placement(path_);
      ADD_FAILURE() << "accepted:\n" << content;
    } catch (const TopologyError& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      const std::string what = e.what();
      EXPECT_NE(what.find(path_), std::string::npos) << what;
      if (line > 0) {
        EXPECT_NE(what.find("line " + std::to_string(line)), std::string::npos) << what;
      }
    }
  }

  std::string dir_;
  std::string path_;
};

TEST_F(PlacementFile, RoundTripsEveryPolicy) {
  for (Policy p : {Policy::scatter, Policy::compact, Policy::cores, Policy::pus}) {
    save_placement(path_, Placement{p, {}}, "from a test");
    EXPECT_EQ(load_placement(path_), (Placement{p, {}}));
  }
  const Placement list{Policy::list, CpuSet::from_list("1,3-5")};
  save_placement(path_, list);
  EXPECT_EQ(load_placement(path_), list);
  std::ifstream in(path_);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "format=ringpool-placement-1");
}

TEST_F(PlacementFile, AcceptsCommentsBlankLinesAndCrLf) {
  write("format=ringpool-placement-1\r\n# tuned on host x\n\npolicy=compact\r\nnote=a b c\n");
  EXPECT_EQ(load_placement(path_).policy, Policy::compact);
}

TEST_F(PlacementFile, RejectsEachMalformedCase) {
  expect_rejected("policy=cores\n", 1);                                           // no format first
  expect_rejected("format=ringpool-placement-2\npolicy=cores\n", 1);              // unknown format
  expect_rejected("format=ringpool-placement-1\n", 0);                            // no policy
  expect_rejected("format=ringpool-placement-1\npolicy=cores\njunk\n", 3);        // no '='
  expect_rejected("format=ringpool-placement-1\npolicy=cores\ncolour=red\n", 3);  // unknown key
  expect_rejected("format=ringpool-placement-1\npolicy=cores\npolicy=pus\n", 3);  // duplicate
  expect_rejected("format=ringpool-placement-1\npolicy=list\n", 0);            // list without cpus
  expect_rejected("format=ringpool-placement-1\npolicy=list\ncpus=3-1\n", 3);  // bad list
  expect_rejected("format=ringpool-placement-1\npolicy=list\ncpus=\n", 3);     // empty list
  expect_rejected("format=ringpool-placement-1\npolicy=cores\ncpus=1\n", 3);   // cpus w/o list
  expect_rejected("format=ringpool-placement-1\npolicy=spread\n", 2, TopologyErrc::unknown_policy);
}

TEST_F(PlacementFile, MissingFileNamesIt) {
  try {
    (void)load_placement(dir_ + "/absent.txt");
    FAIL() << "loaded a missing file";
  } catch (const TopologyError& e) {
    EXPECT_EQ(e.code(), TopologyErrc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("absent.txt"), std::string::npos);
  }
}

TEST_F(PlacementFile, SaveRejectsBadInput) {
  EXPECT_THROW(save_placement(path_, Placement{Policy::list, {}}), TopologyError);
  EXPECT_THROW(save_placement(path_, Placement{}, "two\nlines"), TopologyError);
  EXPECT_THROW(save_placement(dir_ + "/no/such/dir/p.txt", Placement{}), TopologyError);
}

TEST_F(PlacementFile, FromEnvironment) {
  ::unsetenv("RINGPOOL_PLACEMENT");
  EXPECT_FALSE(placement_from_env().has_value());
  ::setenv("RINGPOOL_PLACEMENT", "", 1);
  EXPECT_FALSE(placement_from_env().has_value());
  save_placement(path_, Placement{Policy::scatter, {}});
  ::setenv("RINGPOOL_PLACEMENT", path_.c_str(), 1);
  ASSERT_TRUE(placement_from_env().has_value());
  EXPECT_EQ(placement_from_env()->policy, Policy::scatter);
  write("format=ringpool-placement-1\npolicy=nope\n");
  EXPECT_THROW((void)placement_from_env(), TopologyError);
  ::setenv("RINGPOOL_PLACEMENT", (dir_ + "/absent").c_str(), 1);
  EXPECT_THROW((void)placement_from_env(), TopologyError);
}

}  // namespace
}  // namespace ringpool::topology
