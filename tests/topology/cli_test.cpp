// Runs the built `ringpool` binary: topo and plan, their JSON, and each bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ringpool/topology/machine.hpp"
#include "test_support.hpp"

namespace ringpool::topology {
namespace {

using nlohmann::json;
using test::data_file;
using test::run;
using test::shell_quote;

test::CommandResult ringpool(const std::string& args, const std::string& prefix = "") {
  return run(prefix + shell_quote(RINGPOOL_CLI) + " " + args + " 2>&1");
}

json parse(const test::CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.out;
  try {
    return json::parse(r.out);
  } catch (const json::exception& e) {
    ADD_FAILURE() << e.what() << "\n" << r.out;
    return json::object();
  }
}

// The command fails with a non-zero exit and a message containing `needle`.
void expect_error(const std::string& args, const std::string& needle,
                  const std::string& prefix = "") {
  const auto r = ringpool(args, prefix);
  EXPECT_NE(r.exit_code, 0) << args << "\n" << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << args << "\n" << r.out;
}

TEST(CliPlan, JsonOnTheLiveMachine) {
  const auto j = parse(ringpool("plan --tasks 1 --json"));
  EXPECT_EQ(j["mode"], "parallel");
  EXPECT_EQ(j["tasks"], 1);
  EXPECT_EQ(j["workers"], 1);
  EXPECT_EQ(j["usable_cores"], Machine::live().usable().cores);
  EXPECT_EQ(j["policy"], "cores");
  ASSERT_EQ(j["cpus"].size(), 1U);
  EXPECT_EQ(j["cpus"][0].size(), 1U);
  EXPECT_FALSE(j["explain"].get<std::string>().empty());
}

TEST(CliPlan, UnderTasksetOneCpuIsOneConcurrentWorkerOnThatCpu) {
  // `taskset -c 1` as in the docs when CPU 1 is usable, else the last usable CPU.
  const CpuSet usable = Machine::live().usable().cpus;
  const unsigned cpu = usable.contains(1) ? 1U : *usable.last();
  const std::string taskset = "taskset -c " + std::to_string(cpu) + " ";
  const auto j = parse(ringpool("plan --tasks 4 --json", taskset));
  EXPECT_EQ(j["mode"], "concurrent");
  EXPECT_EQ(j["workers"], 1);
  EXPECT_EQ(j["usable_cores"], 1);
  EXPECT_EQ(j["cpus"], json::array({json::array({cpu})}));
  if (usable.count() >= 2) {
    const unsigned other = *(usable - CpuSet{cpu}).first();
    expect_error("plan --tasks 1 --cpus " + std::to_string(other), "not usable", taskset);
  }
}

TEST(CliPlan, SyntheticTwoSocketSmtServer) {
  const std::string server = "--synthetic " + shell_quote("pack:2 numa:2 core:16 pu:2");
  const auto parallel = parse(ringpool("plan --tasks 8 --policy scatter --json " + server));
  EXPECT_EQ(parallel["mode"], "parallel");
  EXPECT_EQ(parallel["workers"], 8);
  EXPECT_EQ(parallel["usable_cores"], 64);
  const auto concurrent = parse(ringpool("plan --tasks 1000 --json " + server));
  EXPECT_EQ(concurrent["mode"], "concurrent");
  EXPECT_EQ(concurrent["workers"], 64);
  const auto list = parse(ringpool("plan --tasks 3 --cpus 4-5,9 --json " + server));
  EXPECT_EQ(list["policy"], "list");
  EXPECT_EQ(list["cpus"], json::parse("[[4],[5],[9]]"));
  const auto text = ringpool("plan --tasks 3 " + server);
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("parallel: 3 tasks <= 64 usable cores"), std::string::npos) << text.out;
}

TEST(CliTopo, JsonOnTheLiveMachine) {
  const Machine& m = Machine::live();
  const auto j = parse(ringpool("topo --json"));
  EXPECT_EQ(j["pus"].size(), m.pus().size());
  EXPECT_EQ(j["cores"].size(), m.cores().size());
  EXPECT_EQ(j["usable"]["cores"], m.usable().cores);
  EXPECT_EQ(j["usable"]["cpu_list"], m.usable().cpus.to_list());
  EXPECT_FALSE(j["usable"]["reasons"].empty());
  EXPECT_EQ(ringpool("topo").exit_code, 0);
}

TEST(CliTopo, XmlWithSiblingsAndDisallowedCpus) {
  const auto j =
      parse(ringpool("topo --json --xml " + shell_quote(data_file("32em64t-2n8c2t-pci-noio.xml"))));
  ASSERT_EQ(j["pus"].size(), 32U);
  for (const auto& pu : j["pus"]) {
    if (pu["os_index"] == 0) {
      EXPECT_EQ(pu["siblings"], json::array({16}));
    }
  }
  const auto amd =
      parse(ringpool("topo --json --xml " + shell_quote(data_file("16amd64-8n2c-cpusets.xml"))));
  EXPECT_EQ(amd["usable"]["cpu_list"], "0-3,5-6,12-15");
  const auto text = ringpool("topo --synthetic " + shell_quote("pack:2 l3:2 core:2 pu:2"));
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("SMT siblings"), std::string::npos) << text.out;
}

TEST(CliErrors, EachBadInputFailsWithAClearMessage) {
  expect_error("topo --synthetic " + shell_quote("pack:2 banana:3"), "invalid hwloc synthetic");
  expect_error("plan --tasks 2 --synthetic " + shell_quote("pack:x"), "invalid hwloc synthetic");
  expect_error("topo --xml /nonexistent/machine.xml", "/nonexistent/machine.xml");
  expect_error("plan --tasks 1 --xml " + shell_quote(data_file("README.md")), "README.md");
  expect_error("plan --tasks 0", "expects a whole number from 1 to 4294967296");
  expect_error("plan --tasks -3", "tasks");
  expect_error("plan --json", "tasks");
  expect_error("plan --tasks 2 --policy spread",
               "valid policies: scatter, compact, cores, pus, list");
  expect_error("plan --tasks 2 --cpus 60000", "do not exist on this machine");
  expect_error("plan --tasks 2 --cpus 3-1", "invalid CPU list");
  expect_error("plan --tasks 2 --policy list", "--policy list needs --cpus");
  expect_error("plan --tasks 2 --policy scatter --cpus 0", "--cpus goes with --policy list");
  expect_error("topo --synthetic " + shell_quote("pack:2 pu:2") + " --xml x.xml", "excludes");
}

TEST(CliNumbers, TasksAreCheckedAgainstTheirRange) {
  const std::string machine = " --synthetic " + shell_quote("pack:1 core:2 pu:1");
  // 2^64 used to wrap to 0 and print "up to 0 each".
  expect_error("plan --tasks 18446744073709551616" + machine, "from 1 to 4294967296");
  expect_error("plan --tasks 18446744073709551616" + machine, "too large");
  expect_error("plan --tasks 4294967297" + machine, "too large");
  for (const char* bad : {"0x10", "1e3", "+5", "2.5", "' 7'", "''"}) {
    expect_error(std::string("plan --tasks ") + bad + machine, "expects a whole number");
  }
  const auto at_limit = parse(ringpool("plan --tasks 4294967296 --json" + machine));
  EXPECT_EQ(at_limit["tasks"], 4294967296ULL);
  EXPECT_EQ(at_limit["mode"], "concurrent");
}

TEST(CliNumbers, EveryNumericOptionRefusesValuesOutOfItsRange) {
  // Each is refused while parsing, before anything is measured.
  const std::string huge = "18446744073709551617";
  expect_error("bench rings --rounds " + huge, "from 1 to 10000");
  expect_error("bench rings --rounds 0", "from 1 to 10000");
  expect_error("bench pool --rounds " + huge, "from 1 to 1000");
  expect_error("bench pool --rounds -1", "from 1 to 1000");
  expect_error("bench --rounds " + huge, "from 1 to 1000");
  expect_error("c2c --rounds " + huge, "from 1 to 1000");
  expect_error("c2c --round-trips 99", "from 100 to 10000000");
  expect_error("c2c --round-trips " + huge, "from 100 to 10000000");
  expect_error("tune --workers 65537", "from 1 to 65536");
  expect_error("tune --workers 4294967297", "from 1 to 65536");
  expect_error("tune --rounds 1001", "from 1 to 1000");
}

}  // namespace
}  // namespace ringpool::topology
