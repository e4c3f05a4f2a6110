#include "ringpool/topology/placement.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ringpool/topology/errors.hpp"
#include "test_support.hpp"

namespace ringpool::topology {
namespace {

using test::data_file;
using test::run;
using test::shell_quote;

struct Shape {
  std::string input;  // synthetic description or XML path
  Machine machine;
};

std::vector<Shape> shapes() {
  std::vector<Shape> out;
  for (const char* desc : {"core:1 pu:1", "pack:2 numa:2 core:16 pu:2", "pack:1 l3:8 core:8 pu:1",
                           "pack:2 l3:4 core:8 pu:2"}) {
    out.push_back({desc, Machine::from_synthetic(desc)});
  }
  for (const char* file : {"16em64t-4s2c2t.xml", "32em64t-2n8c2t-pci-noio.xml",
                           "16amd64-8n2c-cpusets.xml", "fakecpukinds.xml"}) {
    out.push_back({data_file(file), Machine::from_xml(data_file(file))});
  }
  return out;
}

std::vector<unsigned> pus_of(const std::vector<CpuSet>& sets) {
  std::vector<unsigned> out;
  for (const auto& s : sets) {
    EXPECT_EQ(s.count(), 1U);
    out.push_back(*s.first());
  }
  return out;
}

void expect_distinct_cores(const Machine& m, const std::vector<unsigned>& pus) {
  std::vector<std::size_t> cores;
  for (unsigned pu : pus) cores.push_back(*m.index_of(Level::core, pu));
  std::sort(cores.begin(), cores.end());
  EXPECT_EQ(std::adjacent_find(cores.begin(), cores.end()), cores.end())
      << "two workers share a core";
}

// Per-domain worker counts at `level`, sorted (a multiset of counts). PUs outside
// every domain of the level (no NUMA node above them, no L3) are not counted.
std::vector<std::size_t> spread(const Machine& m, Level level, const std::vector<unsigned>& pus) {
  std::vector<std::size_t> counts(m.domains(level).size() + 1, 0);
  for (unsigned pu : pus) {
    if (const auto i = m.index_of(level, pu)) ++counts[*i];
  }
  std::sort(counts.begin(), counts.end());
  return counts;
}

TEST(Policy, ParsesEveryNameAndListsThemOnError) {
  for (Policy p : {Policy::scatter, Policy::compact, Policy::cores, Policy::pus, Policy::list}) {
    EXPECT_EQ(parse_policy(to_string(p)), p);
  }
  try {
    (void)parse_policy("spread");
    FAIL() << "accepted an unknown policy";
  } catch (const TopologyError& e) {
    EXPECT_EQ(e.code(), TopologyErrc::unknown_policy);
    const std::string what = e.what();
    EXPECT_NE(what.find("\"spread\""), std::string::npos) << what;
    for (const char* name : {"scatter", "compact", "cores", "pus", "list"}) {
      EXPECT_NE(what.find(name), std::string::npos) << what;
    }
  }
}

TEST(Placement, CoreBasedPoliciesUseEveryUsableCoreOnceAndNeverTwoSiblings) {
  for (const auto& shape : shapes()) {
    SCOPED_TRACE(shape.input);
    const Machine& m = shape.machine;
    const Usable u = m.usable();
    for (Policy p : {Policy::scatter, Policy::compact, Policy::cores}) {
      SCOPED_TRACE(std::string(to_string(p)));
      const auto order = policy_order(m, Placement{p, {}});
      EXPECT_EQ(order.size(), u.cores);
      expect_distinct_cores(m, order);
      for (unsigned pu : order) EXPECT_TRUE(u.cpus.contains(pu)) << pu;
      for (std::size_t i = 0; i < order.size(); ++i) {
        for (std::size_t j = i + 1; j < order.size(); ++j) {
          EXPECT_NE(m.relation(order[i], order[j]), Relation::smt_siblings);
        }
      }
    }
  }
}

TEST(Placement, PusPolicyUsesEveryUsablePuCoresFirst) {
  for (const auto& shape : shapes()) {
    SCOPED_TRACE(shape.input);
    const Machine& m = shape.machine;
    const Usable u = m.usable();
    const auto order = policy_order(m, Placement{Policy::pus, {}});
    EXPECT_EQ(order.size(), u.cpus.count());
    CpuSet seen;
    for (unsigned pu : order) seen.insert(pu);
    EXPECT_EQ(seen, u.cpus);
    // The first `cores` PUs are on distinct cores: SMT siblings only after that.
    expect_distinct_cores(m, {order.begin(), order.begin() + static_cast<long>(u.cores)});
  }
  const Machine m = Machine::from_xml(data_file("32em64t-2n8c2t-pci-noio.xml"));
  const auto order = policy_order(m, Placement{Policy::pus, {}});
  ASSERT_EQ(order.size(), 32U);
  EXPECT_EQ(order[0], 0U);
  EXPECT_EQ(order[16], 16U);  // sibling of PU 0 comes after every core got one PU
}

TEST(Placement, ScatterSpreadsAsEvenlyAsHwlocDistrib) {
  if (std::string(RINGPOOL_HWLOC_DISTRIB).empty()) GTEST_SKIP() << "hwloc-distrib not installed";
  for (const auto& shape : shapes()) {
    const Machine& m = shape.machine;
    const std::size_t cores = m.usable().cores;
    for (std::size_t n = 1; n <= std::min<std::size_t>(cores, 12); ++n) {
      SCOPED_TRACE(shape.input + ", " + std::to_string(n) + " workers");
      const auto r = run(std::string(RINGPOOL_HWLOC_DISTRIB) + " -i " + shell_quote(shape.input) +
                         " --single --taskset " + std::to_string(n) + " 2>/dev/null");
      ASSERT_EQ(r.exit_code, 0);
      std::vector<unsigned> oracle;
      std::istringstream lines(r.out);
      for (std::string hex; lines >> hex;) {
        ASSERT_EQ(hex.rfind("0x", 0), 0U) << hex;
        const std::string digits = hex.substr(2);
        const auto pos = digits.find_first_not_of('0');
        ASSERT_NE(pos, std::string::npos);
        const unsigned digit =
            static_cast<unsigned>(std::stoul(digits.substr(pos, 1), nullptr, 16));
        const auto nibble = static_cast<unsigned>(digits.size() - 1 - pos);
        oracle.push_back(4 * nibble + static_cast<unsigned>(__builtin_ctz(digit)));
      }
      ASSERT_EQ(oracle.size(), n);
      const auto ours = pus_of(place(m, n, Placement{Policy::scatter, {}}));
      expect_distinct_cores(m, ours);
      for (Level level : {Level::package, Level::numa_node, Level::l3}) {
        const auto mine = spread(m, level, ours);
        const auto theirs = spread(m, level, oracle);
        // As even as hwloc: no domain holds more workers than hwloc's busiest one,
        // and on symmetric machines the same multiset of per-domain counts.
        EXPECT_LE(mine.back(), theirs.back()) << to_string(level);
        if (shape.input.find(".xml") == std::string::npos) {
          EXPECT_EQ(mine, theirs) << to_string(level);
        }
      }
    }
  }
}

TEST(Placement, CompactFillsOneL3GroupBeforeTheNext) {
  const Machine m = Machine::from_synthetic("pack:2 l3:4 core:8 pu:2");
  const auto eight = pus_of(place(m, 8, Placement{Policy::compact, {}}));
  EXPECT_EQ(spread(m, Level::l3, eight).back(), 8U);  // all in one L3 group
  const auto nine = pus_of(place(m, 9, Placement{Policy::compact, {}}));
  EXPECT_EQ(spread(m, Level::l3, nine).back(), 8U);
  EXPECT_EQ(spread(m, Level::package, nine).back(), 9U);  // and in one package
  const auto scattered = pus_of(place(m, 8, Placement{Policy::scatter, {}}));
  EXPECT_EQ(spread(m, Level::l3, scattered).back(), 1U);
}

TEST(Placement, CompactStartsWithTheFullestGroup) {
  // Packages of 2, 2, 1, 1, 2, 2 usable cores: two workers share a package.
  const Machine m = Machine::from_xml(data_file("16amd64-8n2c-cpusets.xml"));
  const auto two = pus_of(place(m, 2, Placement{Policy::compact, {}}));
  EXPECT_EQ(m.relation(two[0], two[1]), Relation::same_package);
  // Scatter puts them in different packages.
  const auto apart = pus_of(place(m, 2, Placement{Policy::scatter, {}}));
  EXPECT_EQ(m.relation(apart[0], apart[1]), Relation::cross_package);
}

TEST(Plan, ParallelWhenTasksFitTheUsableCores) {
  for (const auto& shape : shapes()) {
    SCOPED_TRACE(shape.input);
    const Machine& m = shape.machine;
    const std::size_t cores = m.usable().cores;
    for (Policy p : {Policy::scatter, Policy::compact, Policy::cores}) {
      for (std::size_t tasks : {std::size_t{1}, cores}) {
        const Plan plan_ = plan(m, tasks, Placement{p, {}});
        EXPECT_EQ(plan_.mode, Mode::parallel);
        EXPECT_EQ(plan_.tasks, tasks);
        EXPECT_EQ(plan_.workers, tasks);
        EXPECT_EQ(plan_.usable_cores, cores);
        EXPECT_EQ(plan_.capacity, cores);
        EXPECT_EQ(plan_.policy, p);
        ASSERT_EQ(plan_.worker_cpus.size(), tasks);
        expect_distinct_cores(m, pus_of(plan_.worker_cpus));
        EXPECT_EQ(plan_.explain.rfind("parallel: " + std::to_string(tasks) + " task", 0), 0U)
            << plan_.explain;
        EXPECT_NE(plan_.explain.find(std::to_string(cores)), std::string::npos);
      }
    }
  }
}

TEST(Plan, ConcurrentWithOneWorkerPerUsableCoreWhenTasksExceedThem) {
  for (const auto& shape : shapes()) {
    SCOPED_TRACE(shape.input);
    const Machine& m = shape.machine;
    const Usable u = m.usable();
    for (Policy p : {Policy::scatter, Policy::compact, Policy::cores, Policy::pus}) {
      const std::size_t capacity = p == Policy::pus ? u.cpus.count() : u.cores;
      const std::size_t tasks = 3 * capacity + 1;
      const Plan plan_ = plan(m, tasks, Placement{p, {}});
      EXPECT_EQ(plan_.mode, Mode::concurrent);
      EXPECT_EQ(plan_.workers, capacity);
      EXPECT_EQ(plan_.capacity, capacity);
      ASSERT_EQ(plan_.worker_cpus.size(), capacity);
      const auto pus = pus_of(plan_.worker_cpus);
      CpuSet distinct;
      for (unsigned pu : pus) distinct.insert(pu);
      EXPECT_EQ(distinct.count(), capacity);  // every worker on its own PU
      EXPECT_EQ(plan_.explain.rfind("concurrent: " + std::to_string(tasks) + " tasks", 0), 0U)
          << plan_.explain;
    }
  }
}

TEST(Plan, PusPolicyRunsInParallelUpToTheUsablePus) {
  const Machine m = Machine::from_synthetic("pack:2 numa:2 core:16 pu:2");
  const Plan p = plan(m, 100, Placement{Policy::pus, {}});
  EXPECT_EQ(p.mode, Mode::parallel);
  EXPECT_EQ(p.workers, 100U);
  EXPECT_EQ(p.usable_cores, 64U);
  EXPECT_EQ(p.capacity, 128U);
}

TEST(Plan, ListPolicyUsesExactlyTheListedCpus) {
  const Machine m = Machine::from_xml(data_file("32em64t-2n8c2t-pci-noio.xml"));
  const Placement list{Policy::list, CpuSet::from_list("3,16-17")};
  const Plan parallel = plan(m, 2, list);
  EXPECT_EQ(parallel.mode, Mode::parallel);
  EXPECT_EQ(pus_of(parallel.worker_cpus), (std::vector<unsigned>{3, 16}));
  const Plan concurrent = plan(m, 5, list);
  EXPECT_EQ(concurrent.mode, Mode::concurrent);
  EXPECT_EQ(pus_of(concurrent.worker_cpus), (std::vector<unsigned>{3, 16, 17}));
}

TEST(Plan, ListOutsideTheMachineOrUsableSetIsANamedError) {
  const Machine m = Machine::from_xml(data_file("16amd64-8n2c-cpusets.xml"));
  try {
    (void)plan(m, 1, Placement{Policy::list, CpuSet::from_list("0,4")});
    FAIL() << "accepted CPU 4, which this machine does not have";
  } catch (const TopologyError& e) {
    EXPECT_EQ(e.code(), TopologyErrc::cpu_not_usable);
    EXPECT_NE(std::string(e.what()).find("CPU(s) 4 "), std::string::npos) << e.what();
  }
  try {
    (void)plan(m, 1, Placement{Policy::list, {}});
    FAIL() << "accepted an empty list";
  } catch (const TopologyError& e) {
    EXPECT_EQ(e.code(), TopologyErrc::invalid_argument);
  }
}

TEST(Plan, ZeroTasksIsAnError) {
  const Machine m = Machine::from_synthetic("pack:1 core:4 pu:1");
  try {
    (void)plan(m, 0);
    FAIL() << "accepted 0 tasks";
  } catch (const TopologyError& e) {
    EXPECT_EQ(e.code(), TopologyErrc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("task count"), std::string::npos);
  }
  EXPECT_THROW((void)place(m, 0, Placement{}), TopologyError);
}

TEST(Place, WrapsAroundWhenWorkersExceedCapacity) {
  const Machine m = Machine::from_synthetic("pack:1 core:2 pu:2");
  const auto pus = pus_of(place(m, 5, Placement{}));
  EXPECT_EQ(pus, (std::vector<unsigned>{0, 2, 0, 2, 0}));
}

TEST(Plan, OneCoreMachine) {
  const Machine m = Machine::from_synthetic("core:1 pu:1");
  const Plan one = plan(m, 1);
  EXPECT_EQ(one.mode, Mode::parallel);
  EXPECT_EQ(one.workers, 1U);
  const Plan many = plan(m, 7, Placement{Policy::scatter, {}});
  EXPECT_EQ(many.mode, Mode::concurrent);
  EXPECT_EQ(many.workers, 1U);
  EXPECT_EQ(many.worker_cpus, std::vector<CpuSet>{CpuSet{0}});
}

}  // namespace
}  // namespace ringpool::topology
