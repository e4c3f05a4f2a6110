// `ringpool tune`: candidates per relation and policy, a saved placement that loads, bad
// input, and the point of it all: a Pool started with RINGPOOL_PLACEMENT=<saved file>
// pins its workers where the tuning said (read back from /proc/<pid>/status).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ringpool/pool/pool.hpp"
#include "ringpool/topology/topology.hpp"
#include "run_cli.hpp"

namespace rt = ringpool::report::testing;
namespace topo = ringpool::topology;

namespace {

using ringpool::report::testing::usable_cpus;

// Cpus_allowed_list of a process, as the kernel reports it.
std::string cpus_allowed(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Cpus_allowed_list:", 0) == 0) {
      const auto start = line.find_first_not_of(" \t", line.find(':') + 1);
      return line.substr(start);
    }
  }
  return {};
}

// Sets an environment variable for the scope of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

int identity(int x) {
  return x;
}

ringpool::pool::PoolOptions one_worker() {
  ringpool::pool::PoolOptions o;
  o.workers = 1;
  return o;
}

}  // namespace

TEST(TuneCli, MeasuresCandidatesAndSavesALoadablePlacement) {
  if (usable_cpus().size() < 2) GTEST_SKIP() << "needs two usable CPUs";
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool(
      "tune --quick --save " + dir.file("placement.txt") + " --json " + dir.file("tune.json"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("recommended: policy"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(rt::slurp(dir.file("tune.json")));
  bool pair = false;
  bool pool = false;
  for (const auto& c : j.at("candidates")) {
    if (c.at("kind") == "pair") {
      pair = true;
      EXPECT_GT(c.at("rtt_ns_p50").get<double>(), 0.0) << c.dump();
      EXPECT_GT(c.at("items_per_s").get<double>(), 0.0) << c.dump();
    }
    if (c.at("kind") == "pool") {
      pool = true;
      EXPECT_GT(c.at("items_per_s").get<double>(), 0.0) << c.dump();
    }
  }
  EXPECT_TRUE(pair);
  EXPECT_TRUE(pool);
  const topo::Placement saved = topo::load_placement(dir.file("placement.txt"));
  EXPECT_EQ(std::string(topo::to_string(saved.policy)),
            j.at("recommended_policy").get<std::string>());
}

TEST(TuneCli, SavedPlacementChangesWherePoolWorkersArePinned) {
  const auto cpus = usable_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two usable CPUs";
  const unsigned target = cpus.back();  // the default (cores) policy puts worker 0 on cpus.front()
  rt::ScratchDir dir;
  const std::string file = dir.file("placement.txt");
  const auto r = rt::run_ringpool(
      "tune --quick --workers 1 --cpus " + std::to_string(target) + " --save " + file, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  {
    ScopedEnv no_file("RINGPOOL_PLACEMENT", "");
    ringpool::pool::Pool pool(one_worker());
    ASSERT_EQ(pool.apply(identity, 1), 1);
    EXPECT_EQ(cpus_allowed(pool.worker_pids().at(0)), std::to_string(cpus.front()));
  }
  {
    ScopedEnv tuned("RINGPOOL_PLACEMENT", file);
    ringpool::pool::Pool pool(one_worker());
    ASSERT_EQ(pool.apply(identity, 2), 2);
    EXPECT_EQ(cpus_allowed(pool.worker_pids().at(0)), std::to_string(target));
  }
}

TEST(TuneCli, TooManyWorkersIsAClearError) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("tune --quick --workers 4096", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--workers 4096: only"), std::string::npos) << r.err;
}

TEST(TuneCli, BadCpusIsAClearError) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("tune --quick --cpus 0,x", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("'x' is not a CPU number or range"), std::string::npos) << r.err;
}

TEST(TuneCli, UnwritableSaveFileIsAClearError) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool(
      "tune --quick --workers 1 --cpus 0 --save " + dir.file("no/such/dir/placement.txt"), dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no/such/dir/placement.txt"), std::string::npos) << r.err;
}
