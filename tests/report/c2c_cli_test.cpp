// `ringpool c2c`: the matrix covers every requested pair, is square and symmetric in shape,
// and bad --cpus values fail with a clear message and a non-zero exit.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "ringpool/topology/topology.hpp"
#include "run_cli.hpp"

namespace rt = ringpool::report::testing;

namespace {

using ringpool::report::testing::usable_cpus;

void expect_full_matrix(const nlohmann::json& j, const std::vector<unsigned>& cpus) {
  ASSERT_EQ(j.at("cpus").get<std::vector<unsigned>>(), cpus);
  const auto& m = j.at("matrix_ns_p50");
  ASSERT_EQ(m.size(), cpus.size());
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    ASSERT_EQ(m[i].size(), cpus.size()) << "row " << i;
    EXPECT_TRUE(m[i][i].is_null()) << "diagonal " << i;
    for (std::size_t k = 0; k < cpus.size(); ++k) {
      if (k == i) continue;
      ASSERT_TRUE(m[i][k].is_number()) << i << "," << k;
      const double v = m[i][k].get<double>();
      EXPECT_TRUE(std::isfinite(v) && v > 0.0) << v;
      EXPECT_EQ(m[i][k], m[k][i]);
    }
  }
  // One entry per unordered pair, each with its topology relation.
  const auto& pairs = j.at("pairs");
  EXPECT_EQ(pairs.size(), cpus.size() * (cpus.size() - 1) / 2);
  std::set<std::pair<unsigned, unsigned>> seen;
  for (const auto& p : pairs) {
    auto a = p.at("cpus")[0].get<unsigned>();
    auto b = p.at("cpus")[1].get<unsigned>();
    EXPECT_TRUE(seen.insert({std::min(a, b), std::max(a, b)}).second);
    EXPECT_FALSE(p.at("relation").get<std::string>().empty());
    EXPECT_LE(p.at("round_min_ns").get<double>(), p.at("one_way_ns_p50").get<double>());
    EXPECT_GE(p.at("round_max_ns").get<double>(), p.at("one_way_ns_p50").get<double>());
    EXPECT_GE(p.at("one_way_ns_p99").get<double>(), p.at("round_min_ns").get<double>());
  }
  EXPECT_TRUE(j.at("fastest").is_object());
  EXPECT_TRUE(j.at("slowest").is_object());
  EXPECT_LE(j.at("fastest").at("one_way_ns_p50").get<double>(),
            j.at("slowest").at("one_way_ns_p50").get<double>());
}

}  // namespace

TEST(C2cCli, EveryUsableCpuPairByDefault) {
  const auto cpus = usable_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two usable CPUs";
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool(
      "c2c --quick --json " + dir.file("c2c.json") + " --svg " + dir.file("c2c.svg"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_full_matrix(nlohmann::json::parse(rt::slurp(dir.file("c2c.json"))), cpus);
  EXPECT_NE(r.out.find("fastest pair: CPU"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("slowest pair: CPU"), std::string::npos) << r.out;
  const std::string svg = rt::slurp(dir.file("c2c.svg"));
  EXPECT_EQ(svg.rfind("<svg", 0), 0U);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

TEST(C2cCli, RequestedCpusInTheirOrderAndJsonOnStdout) {
  const auto cpus = usable_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two usable CPUs";
  // The last usable CPU first: the matrix keeps the requested order.
  const std::vector<unsigned> wanted = {cpus.back(), cpus.front()};
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("c2c --quick --rounds 2 --cpus " + std::to_string(wanted[0]) +
                                      "," + std::to_string(wanted[1]) + " --json -",
                                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_full_matrix(nlohmann::json::parse(r.out), wanted);
  EXPECT_EQ(nlohmann::json::parse(r.out).at("rounds"), 2);
}

struct BadCpus {
  std::string cpus;
  std::string message;
};

class C2cBadCpus : public ::testing::TestWithParam<BadCpus> {};

TEST_P(C2cBadCpus, FailsWithAClearMessage) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("c2c --quick --cpus '" + GetParam().cpus + "'", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, C2cBadCpus,
    ::testing::Values(BadCpus{"a", "'a' is not a CPU number or range"},
                      BadCpus{"3-1", "'3-1' is not a CPU number or range"},
                      BadCpus{"0,,1", "'' is not a CPU number or range"},
                      BadCpus{"0,0", "CPU 0 is listed twice"},
                      BadCpus{"0,65000", "CPU 65000 is not usable by this process; usable CPUs:"},
                      BadCpus{"0", "need at least 2 distinct usable CPUs"}));
