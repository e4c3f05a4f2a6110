#include "ringpool/bench/rounds.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rb = ringpool::bench;

TEST(BenchRounds, OrderIsARotationStartingAtRoundModN) {
  EXPECT_EQ(rb::round_order(3, 0), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(rb::round_order(3, 1), (std::vector<std::size_t>{1, 2, 0}));
  EXPECT_EQ(rb::round_order(3, 2), (std::vector<std::size_t>{2, 0, 1}));
  EXPECT_EQ(rb::round_order(3, 3), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(rb::round_order(3, 2, false), (std::vector<std::size_t>{0, 1, 2}));
}

TEST(BenchRounds, EveryContenderRunsOncePerRoundInterleaved) {
  std::vector<std::string> log;
  std::vector<rb::Contender<double>> cs;
  for (std::string name : {"a", "b", "c"}) {
    cs.push_back({name, [&log, name] {
                    log.push_back(name);
                    return static_cast<double>(log.size());
                  }});
  }
  rb::RoundsOptions opt;
  opt.rounds = 4;
  opt.warmup_rounds = 1;
  std::size_t trials = 0;
  opt.on_trial = [&](std::size_t, std::size_t) { ++trials; };
  const auto res = rb::run_rounds(cs, opt);
  // Warm-up round 0 runs a,b,c (order of round 0); recorded rounds 0..3 rotate.
  const std::vector<std::string> expected{"a", "b", "c", "a", "b", "c", "b", "c",
                                          "a", "c", "a", "b", "a", "b", "c"};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(trials, 12U);
  ASSERT_EQ(res.names, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(res.order.size(), 4U);
  EXPECT_EQ(res.order[1], (std::vector<std::size_t>{1, 2, 0}));
  for (const auto& s : res.samples) EXPECT_EQ(s.size(), 4U);
  // Each recorded figure is the log position at which it ran.
  EXPECT_EQ(res.samples[0], (std::vector<double>{4, 9, 11, 13}));
  EXPECT_EQ(res.samples[1], (std::vector<double>{5, 7, 12, 14}));
}

TEST(BenchRounds, MediansAndRatiosOfStructFigures) {
  struct Fig {
    double rate;
    double rtt;
  };
  int round = 0;
  std::vector<rb::Contender<Fig>> cs{
      {"fast",
       [&] {
         return Fig{10.0 * (round + 1), 1.0};
       }},
      {"slow",
       [&] {
         ++round;
         return Fig{5.0 * round, 2.0};
       }},
  };
  rb::RoundsOptions opt;
  opt.rounds = 3;
  opt.rotate = false;
  const auto res = rb::run_rounds(cs, opt);
  EXPECT_DOUBLE_EQ(res.median(0, &Fig::rate), 20.0);
  EXPECT_DOUBLE_EQ(res.median(1, &Fig::rtt), 2.0);
  EXPECT_DOUBLE_EQ(res.median_ratio(0, 1, &Fig::rate), 2.0);
}

TEST(BenchRounds, BadOptionsAreTypedErrors) {
  std::vector<rb::Contender<double>> none;
  rb::RoundsOptions opt;
  EXPECT_THROW((void)rb::run_rounds(none, opt), rb::BenchError);
  std::vector<rb::Contender<double>> one{{"x", [] { return 1.0; }}};
  opt.rounds = 0;
  try {
    (void)rb::run_rounds(one, opt);
    FAIL() << "rounds = 0 accepted";
  } catch (const rb::BenchError& e) {
    EXPECT_EQ(e.code(), rb::BenchErrc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("rounds"), std::string::npos);
  }
}
