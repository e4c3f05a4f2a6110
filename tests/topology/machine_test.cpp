#include "ringpool/topology/machine.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ringpool/topology/errors.hpp"
#include "test_support.hpp"

namespace ringpool::topology {
namespace {

using test::data_file;
using test::run;
using test::shell_quote;

// Synthetic shapes and real XML files the counts are checked on.
const std::vector<std::string> kSynthetic = {"core:1 pu:1", "pack:2 numa:2 core:16 pu:2",
                                             "pack:1 l3:8 core:8 pu:1", "pack:2 l3:4 core:8 pu:2"};
const std::vector<std::string> kXml = {"16em64t-4s2c2t.xml", "32em64t-2n8c2t-pci-noio.xml",
                                       "16amd64-8n2c-cpusets.xml", "fakecpukinds.xml"};

// hwloc-calc's count of `type` objects (0 when it prints nothing).
std::size_t hwloc_count(const std::string& input, const std::string& type) {
  const auto r = run(std::string(RINGPOOL_HWLOC_CALC) + " -i " + shell_quote(input) +
                     " --number-of " + type + " all 2>/dev/null");
  EXPECT_EQ(r.exit_code, 0) << input;
  return r.out.find_first_of("0123456789") == std::string::npos ? 0 : std::stoul(r.out);
}

std::size_t with_cpus(const std::vector<Domain>& domains) {
  std::size_t n = 0;
  for (const auto& d : domains) n += d.cpus.empty() ? 0 : 1;
  return n;
}

void expect_counts_match_hwloc_calc(const Machine& m, const std::string& input) {
  SCOPED_TRACE(input);
  EXPECT_EQ(with_cpus(m.packages()), hwloc_count(input, "package"));
  EXPECT_EQ(with_cpus(m.numa_nodes()), hwloc_count(input, "numa"));
  EXPECT_EQ(with_cpus(m.l3_groups()), hwloc_count(input, "l3cache"));
  EXPECT_EQ(with_cpus(m.l2_groups()), hwloc_count(input, "l2cache"));
  EXPECT_EQ(m.cores().size(), hwloc_count(input, "core"));
  EXPECT_EQ(m.pus().size(), hwloc_count(input, "pu"));
  EXPECT_EQ(m.all_cpus().count(), m.pus().size());
}

TEST(Machine, CountsAgreeWithHwlocCalcOnSyntheticShapes) {
  if (std::string(RINGPOOL_HWLOC_CALC).empty()) GTEST_SKIP() << "hwloc-calc not installed";
  for (const auto& desc : kSynthetic) {
    expect_counts_match_hwloc_calc(Machine::from_synthetic(desc), desc);
  }
}

TEST(Machine, CountsAgreeWithHwlocCalcOnRealXmlTopologies) {
  if (std::string(RINGPOOL_HWLOC_CALC).empty()) GTEST_SKIP() << "hwloc-calc not installed";
  for (const auto& file : kXml) {
    expect_counts_match_hwloc_calc(Machine::from_xml(data_file(file)), data_file(file));
  }
}

TEST(Machine, SiblingsAgreeWithHwlocCalcWhenTheyAreNotNeighbours) {
  const Machine m = Machine::from_xml(data_file("32em64t-2n8c2t-pci-noio.xml"));
  EXPECT_EQ(m.siblings(0), CpuSet{16});
  EXPECT_EQ(m.siblings(16), CpuSet{0});
  EXPECT_EQ(m.siblings(9), CpuSet{25});
  EXPECT_EQ(m.relation(0, 16), Relation::smt_siblings);
  EXPECT_EQ(m.relation(0, 1), Relation::same_l3);
  EXPECT_EQ(m.relation(0, 8), Relation::cross_package);
  EXPECT_EQ(m.relation(3, 3), Relation::same_pu);
  if (std::string(RINGPOOL_HWLOC_CALC).empty()) GTEST_SKIP() << "hwloc-calc not installed";
  for (unsigned core = 0; core < m.cores().size(); ++core) {
    const auto r = run(std::string(RINGPOOL_HWLOC_CALC) + " -i " +
                       shell_quote(data_file("32em64t-2n8c2t-pci-noio.xml")) +
                       " core:" + std::to_string(core) + " --intersect pu --physical-output");
    ASSERT_EQ(r.exit_code, 0);
    const CpuSet oracle = CpuSet::from_list(r.out);
    EXPECT_EQ(m.cores()[core].cpus, oracle) << "core L#" << core;
    const unsigned pu = *oracle.first();
    EXPECT_EQ(m.siblings(pu), oracle - CpuSet{pu});
  }
}

TEST(Machine, RelationsOnAFourPackageSmtMachine) {
  const Machine m = Machine::from_xml(data_file("16em64t-4s2c2t.xml"));
  // Package 0: cores {0,8} and {4,12}, each with its own L2, sharing one L3.
  EXPECT_EQ(m.relation(0, 8), Relation::smt_siblings);
  EXPECT_EQ(m.relation(0, 4), Relation::same_l3);
  EXPECT_EQ(m.relation(8, 12), Relation::same_l3);
  EXPECT_EQ(m.relation(0, 1), Relation::cross_package);
  EXPECT_EQ(m.index_of(Level::package, 13), 1U);
  EXPECT_EQ(m.index_of(Level::core, 12), 1U);
}

TEST(Machine, RelationSameL2AndSamePackageOnSynthetic) {
  const Machine m = Machine::from_synthetic("pack:2 l3:2 l2:2 core:2 pu:1");
  EXPECT_EQ(m.relation(0, 1), Relation::same_l2);
  EXPECT_EQ(m.relation(0, 2), Relation::same_l3);
  EXPECT_EQ(m.relation(0, 4), Relation::same_package);
  EXPECT_EQ(m.relation(0, 8), Relation::cross_package);
  EXPECT_TRUE(m.siblings(0).empty());
}

TEST(Machine, DisallowedCpusAreNotUsable) {
  const Machine m = Machine::from_xml(data_file("16amd64-8n2c-cpusets.xml"));
  const Usable u = m.usable();
  EXPECT_EQ(u.cpus.to_list(), "0-3,5-6,12-15");
  EXPECT_EQ(u.cores, 10U);
  EXPECT_FALSE(u.quota_cores.has_value());
  EXPECT_FALSE(u.reasons.empty());
  // Memory-only NUMA nodes are reported with no PUs.
  EXPECT_EQ(m.numa_nodes().size(), 5U);
  EXPECT_EQ(with_cpus(m.numa_nodes()), 3U);
  EXPECT_FALSE(m.index_of(Level::numa_node, 0).has_value());
  EXPECT_EQ(m.index_of(Level::numa_node, 5), 1U);
  EXPECT_FALSE(m.index_of(Level::l3, 0).has_value());  // no L3 on this machine
}

TEST(Machine, HybridCpuKinds) {
  const Machine m = Machine::from_xml(data_file("fakecpukinds.xml"));
  ASSERT_GE(m.cpu_kinds().size(), 2U);
  CpuSet covered;
  for (const auto& kind : m.cpu_kinds()) covered |= kind.cpus;
  EXPECT_TRUE(covered.is_subset_of(m.all_cpus()));
  EXPECT_LT(m.cpu_kinds().front().efficiency, m.cpu_kinds().back().efficiency);
  EXPECT_EQ(m.siblings(0), CpuSet{2});  // siblings at +2 on this machine
  EXPECT_TRUE(Machine::from_synthetic("pack:1 core:2 pu:2").cpu_kinds().empty());
}

TEST(Machine, OneCoreMachine) {
  const Machine m = Machine::from_synthetic("core:1 pu:1");
  EXPECT_EQ(m.cores().size(), 1U);
  EXPECT_EQ(m.usable().cores, 1U);
  EXPECT_EQ(m.usable().cpus, CpuSet{0});
  EXPECT_EQ(m.relation(0, 0), Relation::same_pu);
}

TEST(Machine, PusWithoutCoresCountAsOneCoreEach) {
  const Machine m = Machine::from_synthetic("pack:2 pu:3");
  EXPECT_EQ(m.cores().size(), 6U);
  EXPECT_EQ(m.usable().cores, 6U);
  EXPECT_TRUE(m.siblings(0).empty());
}

TEST(Machine, MalformedSyntheticDescriptionIsATypedError) {
  for (const char* bad : {"pack:2 core:", "banana:3", "pack:2 core:4", ""}) {
    try {
      (void)Machine::from_synthetic(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const TopologyError& e) {
      EXPECT_EQ(e.code(), TopologyErrc::invalid_topology);
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos)
          << e.what();
    }
  }
}

TEST(Machine, UnreadableXmlIsATypedErrorNamingTheFile) {
  for (const std::string& bad :
       {std::string("/nonexistent/topology.xml"), data_file("README.md")}) {
    try {
      (void)Machine::from_xml(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const TopologyError& e) {
      EXPECT_EQ(e.code(), TopologyErrc::invalid_topology);
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(Machine, UnknownPuIsATypedError) {
  const Machine m = Machine::from_synthetic("pack:1 core:2 pu:1");
  EXPECT_THROW((void)m.siblings(7), TopologyError);
  EXPECT_THROW((void)m.relation(0, 7), TopologyError);
  EXPECT_THROW((void)m.index_of(Level::core, 2), TopologyError);
}

TEST(Machine, LiveMachineIsLoadedOnceAndCoversThisProcessAffinity) {
  const Machine& a = Machine::live();
  const Machine& b = Machine::live();
  EXPECT_EQ(&a, &b);
  EXPECT_TRUE(a.is_live());
  const Usable u = a.usable();
  EXPECT_FALSE(u.cpus.empty());
  EXPECT_TRUE(u.cpus.is_subset_of(a.all_cpus()));
  EXPECT_GE(u.cores, 1U);
  EXPECT_EQ(usable_cores(), u.cores);
}

}  // namespace
}  // namespace ringpool::topology
