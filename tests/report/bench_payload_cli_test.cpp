// `ringpool bench payload`: a quick smoke run of small sizes with its JSON rows, a size above
// one ring slot (a value, or "not supported on this build" with the error: never a made-up
// number), and the argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "run_cli.hpp"

namespace rt = ringpool::report::testing;

namespace {

// Skips the test where this process cannot use two CPUs.
bool two_cpus(const rt::RunResult& r) {
  return !(r.exit_code != 0 && r.err.find("needs two CPUs") != std::string::npos);
}

}  // namespace

TEST(BenchPayloadCli, SmallSizesGiveEveryRowWithAPositiveValue) {
  rt::ScratchDir dir;
  const auto r =
      rt::run_ringpool("bench payload --sizes 8,1024 --rounds 1 --quick --no-python --json", dir);
  if (!two_cpus(r)) GTEST_SKIP() << "needs two usable CPUs";
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_TRUE(rows.is_array());
  std::map<std::string, std::set<std::size_t>> seen;
  for (const auto& row : rows) {
    std::set<std::string> keys;
    for (const auto& [k, v] : row.items()) keys.insert(k);
    EXPECT_EQ(keys, (std::set<std::string>{"system", "case", "bytes", "value", "unit"}))
        << row.dump();
    const double v = row.at("value").get<double>();
    EXPECT_TRUE(std::isfinite(v) && v > 0.0) << row.dump();
    const std::string id =
        row.at("system").get<std::string>() + "/" + row.at("case").get<std::string>();
    EXPECT_EQ(row.at("unit"), id == "ringpool/queue_stream" ? "bytes/s" : "ns") << row.dump();
    seen[id].insert(row.at("bytes").get<std::size_t>());
  }
  const std::set<std::size_t> both{8, 1024};
  EXPECT_EQ(seen,
            (std::map<std::string, std::set<std::size_t>>{{"ringpool/submit_get_echo", both},
                                                          {"ringpool/submit_get_echo_first", both},
                                                          {"ringpool/queue_stream", both},
                                                          {"memcpy/memcpy", both}}));
  // stderr is a file: one progress line per size.
  EXPECT_NE(r.err.find("ringpool bench payload: [1/2] 8 B"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ringpool bench payload: [2/2] 1 KiB"), std::string::npos) << r.err;
}

TEST(BenchPayloadCli, ASizeAboveOneSlotHasAValueOrSaysTheBuildRefusesIt) {
  rt::ScratchDir dir;
  const std::string json = dir.file("payload.json");
  const auto r = rt::run_ringpool(
      "bench payload --sizes 64K --rounds 1 --quick --no-python --json-file " + json, dir);
  if (!two_cpus(r)) GTEST_SKIP() << "needs two usable CPUs";
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(rt::slurp(json));
  ASSERT_EQ(rows.size(), 4U) << rows.dump();
  std::size_t refused = 0;
  for (const auto& row : rows) {
    EXPECT_EQ(row.at("bytes"), 65536) << row.dump();
    if (row.at("value").is_null()) {
      ++refused;
      EXPECT_EQ(row.at("system"), "ringpool") << row.dump();
      EXPECT_EQ(row.at("unsupported"), true) << row.dump();
      const std::string error = row.at("error").get<std::string>();
      EXPECT_NE(error.find("slot holds at most"), std::string::npos) << error;
      EXPECT_NE(r.out.find(error), std::string::npos) << "the text names the error: " << r.out;
    } else {
      EXPECT_GT(row.at("value").get<double>(), 0.0) << row.dump();
    }
  }
  EXPECT_EQ(r.out.find("not supported on this build") != std::string::npos, refused > 0) << r.out;
  EXPECT_NE(r.out.find("64 KiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[not measured] Payload: 16 MiB"), std::string::npos)
      << "16 MiB was not run: " << r.out;
}

struct BadArgs {
  std::string args;
  std::string message;  // expected in stderr
};

class BenchPayloadBadArgs : public ::testing::TestWithParam<BadArgs> {};

TEST_P(BenchPayloadBadArgs, ExitNonZeroWithAClearMessageBeforeMeasuring) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("bench payload --no-python " + GetParam().args, dir);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err.find("[1/"), std::string::npos) << "a measurement started: " << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Args, BenchPayloadBadArgs,
    ::testing::Values(
        BadArgs{"--sizes 0", "'0' is zero"}, BadArgs{"--sizes 8,8", "'8' is given twice"},
        BadArgs{"--sizes 1K,1024", "'1024' is given twice"},
        BadArgs{"--sizes 1X", "'1X' has an unknown unit"}, BadArgs{"--sizes 8,,16", "'' is empty"},
        BadArgs{"--sizes ''", "is empty"}, BadArgs{"--sizes -8", "does not start with a number"},
        BadArgs{"--sizes 5G", "is larger than 4 GiB"},
        BadArgs{"--sizes 99999999999999999999", "is larger than 4 GiB"},
        BadArgs{"--rounds 0", "--rounds"}, BadArgs{"--wait sometimes", "--wait"},
        BadArgs{"--cpus 0,0", "0"}, BadArgs{"--cpus 0,1000", "1000"}, BadArgs{"--cpus 0,x", "0,x"},
        BadArgs{"--json-file /nonexistent/dir/p.json", "--json-file"}));
