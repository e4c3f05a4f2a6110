// `ringpool bench pool --quick --json`: the shape of its output, and its bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace {

struct CliRun {
  int exit_code = -1;
  std::string out;
};

CliRun run(const std::string& args) {
  const std::string cmd = std::string(RINGPOOL_CLI) + " " + args + " 2>&1";
  CliRun r;
  std::FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) r.out.append(buf, n);
  const int status = pclose(f);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool have_python() {
  return std::system("python3 -c 'import multiprocessing' >/dev/null 2>&1") == 0;
}

TEST(BenchPool, QuickJsonHasEveryCaseWithPositiveValues) {
  const CliRun r = run("bench pool --quick --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_TRUE(rows.is_array());
  std::set<std::string> ours;
  std::set<std::string> python;
  for (const auto& row : rows) {
    ASSERT_TRUE(row.contains("system") && row.contains("case") && row.contains("value") &&
                row.contains("unit"))
        << row.dump();
    const double v = row.at("value").get<double>();
    EXPECT_TRUE(std::isfinite(v) && v > 0) << row.dump();
    const auto unit = row.at("unit").get<std::string>();
    EXPECT_TRUE(unit == "ns" || unit == "ms" || unit == "tasks/s") << row.dump();
    const auto system = row.at("system").get<std::string>();
    ASSERT_TRUE(system == "ringpool" || system == "python-multiprocessing") << row.dump();
    (system == "ringpool" ? ours : python).insert(row.at("case").get<std::string>());
  }
  for (const char* c :
       {"submit_get_rtt_spin_p50", "submit_get_rtt_spin_p99", "submit_get_rtt_block_p50",
        "submit_get_rtt_block_p99", "pipe_rtt_p50", "map_default_chunksize",
        "imap_unordered_chunksize_1", "process_start_join", "pipe_connection_rtt_p50",
        "pipe_connection_rtt_p99", "lock_contended", "pthread_mutex_contended"}) {
    EXPECT_TRUE(ours.count(c)) << "missing ringpool case " << c;
  }
  if (have_python()) {
    for (const char* c : {"map_default_chunksize", "map_chunksize_1", "imap_unordered_chunksize_1",
                          "apply_async_get_rtt_p50", "process_start_join_fork",
                          "pipe_connection_rtt_p50", "pipe_connection_rtt_p99", "lock_contended"}) {
      EXPECT_TRUE(python.count(c)) << "missing python case " << c;
    }
  }
}

TEST(BenchPool, TableNamesTheTargets) {
  const CliRun r = run("bench pool --quick --no-python");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("targets:"), std::string::npos) << r.out;
  // Every row and ratio with the spread of its rounds; targets judged on the whole range.
  EXPECT_NE(r.out.find("p25-p75"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("met only when the median and the whole p25-p75 range meet them"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("spin-mode submit().get() p50"), std::string::npos) << r.out;
  // The Pipe and Lock rows next to their OS peers, and how the locks were measured.
  EXPECT_NE(r.out.find("Pipe round trip p50 vs a pipe(2) ping-pong"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Lock vs a process-shared pthread mutex"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("contending"), std::string::npos) << r.out;
}

TEST(BenchPool, PythonPeerRowsForPipeAndLock) {
  if (!have_python()) GTEST_SKIP() << "python3 with multiprocessing is not installed";
  const CliRun r = run("bench pool --quick");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("Pipe send+recv round trip p50"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Lock, 2 processes contending, per pair"), std::string::npos) << r.out;
}

TEST(BenchPool, BadArgumentsFailWithAMessage) {
  CliRun r = run("bench pool --quick --rounds 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("rounds"), std::string::npos) << r.out;
  r = run("bench pool --quick --cpus 0,0");
  EXPECT_NE(r.exit_code, 0);
  r = run("bench pool --quick --cpus zero");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("zero"), std::string::npos) << r.out;
}

}  // namespace
