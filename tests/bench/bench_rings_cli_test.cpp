// Runs the real `ringpool bench rings` binary (path from CMake) and checks its output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>

#include "ringpool/bench/pin.hpp"

namespace {

struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

CliRun run_cli(const std::string& args) {
  const std::string cmd = std::string(RINGPOOL_CLI_PATH) + " bench rings " + args + " 2>&1";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string cpus_arg() {
  const auto cpus = ringpool::bench::thread_affinity();
  return std::to_string(cpus.at(0)) + "," + std::to_string(cpus.at(1));
}

}  // namespace

TEST(BenchRingsCli, QuickJsonHasEveryRowWithSaneFields) {
  if (ringpool::bench::thread_affinity().size() < 2) GTEST_SKIP() << "needs two CPUs";
  const auto cpus = ringpool::bench::thread_affinity();
  const CliRun r = run_cli("--quick --rounds 1 --json --cpus " + cpus_arg());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto json = nlohmann::json::parse(r.out);
  ASSERT_TRUE(json.is_array());
  std::set<std::tuple<std::string, int, int>> rows;
  for (const auto& row : json) {
    const auto transport = row.at("transport").get<std::string>();
    const int bytes = row.at("item_bytes").get<int>();
    const int batch = row.at("batch").get<int>();
    SCOPED_TRACE(transport + " " + std::to_string(bytes) + "/" + std::to_string(batch));
    rows.emplace(transport, bytes, batch);
    const double rate = row.at("items_per_s").get<double>();
    EXPECT_GT(rate, 0.0);
    EXPECT_TRUE(std::isfinite(rate));
    const bool rtt = batch == 1;
    EXPECT_EQ(!row.at("rtt_ns_p50").is_null(), rtt);
    EXPECT_EQ(!row.at("rtt_ns_p99").is_null(), rtt);
    if (rtt) {
      EXPECT_GT(row.at("rtt_ns_p50").get<double>(), 0.0);
    }
    EXPECT_EQ(row.at("cpus"), nlohmann::json({cpus[0], cpus[1]}));
  }
  for (const char* t : {"ringpool-spsc", "ringpool-mpmc", "boost-spsc_queue", "boost-queue",
                        "boost-message_queue", "pipe", "socketpair"})
    for (int bytes : {8, 64})
      for (int batch : {1, 32}) EXPECT_TRUE(rows.count({t, bytes, batch})) << t;
  EXPECT_TRUE(rows.count({"cacheline-pingpong", 8, 1}));
  EXPECT_EQ(json.size(), 29U);
}

TEST(BenchRingsCli, TableNamesTheCpusAndTheTargets) {
  if (ringpool::bench::thread_affinity().size() < 2) GTEST_SKIP() << "needs two CPUs";
  const CliRun r = run_cli(
      "--quick --rounds 1 --transports ringpool-spsc,boost-spsc_queue --cpus " + cpus_arg());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("CPU"), std::string::npos);
  EXPECT_NE(r.out.find("ringpool-spsc 8 B single-item throughput vs boost-spsc_queue"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[not run] ringpool-mpmc"), std::string::npos) << r.out;
}

TEST(BenchRingsCli, BadCpusAreClearErrors) {
  struct Case {
    const char* cpus;
    const char* says;
  };
  for (const Case& c : {Case{"0,1000", "not available"}, Case{"0,0", "two different CPUs"},
                        Case{"0,x", "invalid CPU list"}, Case{"0", "exactly two CPUs"},
                        Case{"0,1,1", "exactly two CPUs"}, Case{"''", "invalid CPU list"}}) {
    const CliRun r = run_cli(std::string("--quick --cpus ") + c.cpus);
    EXPECT_NE(r.exit_code, 0) << c.cpus;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.cpus << ": " << r.out;
  }
  const CliRun bad_rounds = run_cli("--quick --rounds 0");
  EXPECT_NE(bad_rounds.exit_code, 0);
  const CliRun bad_transport = run_cli("--quick --transports carrier-pigeon");
  EXPECT_NE(bad_transport.exit_code, 0);
  EXPECT_NE(bad_transport.out.find("unknown transport"), std::string::npos) << bad_transport.out;
}
