// The report model's arithmetic: spreads over rounds, per-round ratios of a comparison,
// targets judged on their whole interquartile range, and the words and numbers the writers
// print for them. The numbers here are test inputs, not measurements.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ringpool/report/format.hpp"
#include "ringpool/report/model.hpp"
#include "ringpool/report/report.hpp"
#include "ringpool/topology/topology.hpp"

namespace rr = ringpool::report;

namespace {

rr::Figure figure(const char* system, std::vector<double> rounds, const char* unit) {
  rr::Figure f;
  f.system = system;
  f.unit = unit;
  f.spread = rr::spread_over_rounds(rounds);
  // The median of an odd count is its middle value.
  std::sort(rounds.begin(), rounds.end());
  f.value = rounds[rounds.size() / 2];
  return f;
}

rr::Target target(const char* relation, double threshold, double value, double p25, double p75) {
  rr::Target t;
  t.relation = relation;
  t.threshold = threshold;
  t.value = value;
  t.spread.rounds = {p25, value, p75};
  t.spread.p25 = p25;
  t.spread.p75 = p75;
  rr::evaluate(t);
  return t;
}

}  // namespace

TEST(ReportSpread, QuartilesOfThePerRoundValues) {
  const rr::Spread s = rr::spread_over_rounds({5.0, 1.0, 4.0, 2.0, 3.0});
  EXPECT_DOUBLE_EQ(s.p25, 2.0);
  EXPECT_DOUBLE_EQ(s.p75, 4.0);
  EXPECT_EQ(s.rounds, (std::vector<double>{5.0, 1.0, 4.0, 2.0, 3.0}));  // round order kept
  EXPECT_DOUBLE_EQ(s.relative(3.0), 2.0 / 3.0);
  EXPECT_TRUE(s.unstable(3.0));
  EXPECT_FALSE(s.unstable(100.0));  // 2 / 100 = 2 %

  const rr::Spread one = rr::spread_over_rounds({7.0});
  EXPECT_DOUBLE_EQ(one.p25, 7.0);
  EXPECT_DOUBLE_EQ(one.p75, 7.0);
  EXPECT_FALSE(one.unstable(7.0));

  const rr::Spread none = rr::spread_over_rounds({});
  EXPECT_TRUE(none.empty());
  EXPECT_DOUBLE_EQ(none.relative(1.0), 0.0);
  EXPECT_FALSE(none.unstable(1.0));
}

TEST(ReportSpread, UnstableIsASpreadOverAQuarterOfTheMedian) {
  // p25 = 90, p75 = 115: 25 % of 100 exactly is not over the line.
  EXPECT_FALSE(rr::spread_over_rounds({80.0, 90.0, 100.0, 115.0, 120.0}).unstable(100.0));
  // p25 = 90, p75 = 116: 26 %.
  EXPECT_TRUE(rr::spread_over_rounds({80.0, 90.0, 100.0, 116.0, 120.0}).unstable(100.0));
}

TEST(ReportCompare, RatioSpreadComesFromPerRoundRatios) {
  // Round by round ours / peer = 2, 3, 4, 5, 6 although the medians alone say 4.
  const auto c = rr::compare("rings", "w", figure("a", {20, 30, 40, 50, 60}, "items/s"),
                             figure("b", {10, 10, 10, 10, 10}, "items/s"), true);
  EXPECT_DOUBLE_EQ(c.ratio, 4.0);
  EXPECT_DOUBLE_EQ(c.ratio_spread.p25, 3.0);
  EXPECT_DOUBLE_EQ(c.ratio_spread.p75, 5.0);
  EXPECT_DOUBLE_EQ(c.speedup_spread.p25, 3.0);
  EXPECT_TRUE(c.unstable());  // (5 - 3) / 4 = 50 %

  // Lower is better: speedups are peer / ours per round.
  const auto lat = rr::compare("pool", "w", figure("a", {100, 200, 400}, "ns"),
                               figure("b", {800, 800, 800}, "ns"), false);
  EXPECT_DOUBLE_EQ(lat.ratio, 0.25);
  EXPECT_DOUBLE_EQ(lat.speedup, 4.0);
  EXPECT_DOUBLE_EQ(lat.speedup_spread.p25, 3.0);  // speedups 8, 4, 2
  EXPECT_DOUBLE_EQ(lat.speedup_spread.p75, 6.0);

  // Figures of different rounds cannot be divided round by round.
  const auto mismatched = rr::compare("s", "w", figure("a", {1, 2, 3}, "ns"),
                                      figure("b", {1, 2, 3, 4, 5}, "ns"), false);
  EXPECT_TRUE(mismatched.ratio_spread.empty());
  EXPECT_FALSE(mismatched.unstable());
}

TEST(ReportTarget, MetOnlyWhenTheWholeInterquartileRangeMeetsIt) {
  EXPECT_EQ(target(">=", 1.5, 2.0, 1.6, 2.4).status, rr::Target::Status::met);
  EXPECT_EQ(target(">=", 1.5, 2.0, 1.4, 2.4).status, rr::Target::Status::spread_crosses);
  EXPECT_EQ(target(">=", 1.5, 1.4, 1.2, 1.6).status, rr::Target::Status::missed);
  EXPECT_EQ(target("<=", 1.5, 1.2, 1.1, 1.4).status, rr::Target::Status::met);
  EXPECT_EQ(target("<=", 1.5, 1.2, 1.1, 1.6).status, rr::Target::Status::spread_crosses);
  EXPECT_EQ(target("<=", 1.5, 1.6, 1.4, 1.7).status, rr::Target::Status::missed);
  EXPECT_FALSE(target(">=", 1.5, 2.0, 1.4, 2.4).met());
  EXPECT_TRUE(target(">=", 1.5, 2.0, 1.5, 2.4).met());  // the threshold itself meets it

  rr::Target unmeasured;
  unmeasured.relation = ">=";
  unmeasured.threshold = 2.0;
  rr::evaluate(unmeasured);
  EXPECT_EQ(unmeasured.status, rr::Target::Status::not_measured);
  EXPECT_STREQ(rr::to_string(unmeasured.status), "not_measured");
}

TEST(ReportFormat, RatiosAreNeverRoundedToZero) {
  EXPECT_EQ(rr::format_ratio(1.534), "1.53×");
  EXPECT_EQ(rr::format_ratio(312.4), "312×");
  EXPECT_EQ(rr::format_ratio(0.00115), "0.00115×");
  EXPECT_EQ(rr::format_ratio(0.62), "0.62×");
  EXPECT_EQ(rr::format_value(0.00115, "x"), "0.00115×");
}

TEST(ReportFormat, VerdictSaysFasterOrSlowerWithAFactorOfAtLeastOne) {
  // A round trip 370 times shorter than the peer's: "370× faster", not "0.00×".
  const auto rtt = rr::compare("pool", "w", figure("a", {1000, 1000, 1000}, "ns"),
                               figure("b", {370'000, 370'000, 370'000}, "ns"), false);
  EXPECT_EQ(rr::verdict(rtt), "370× faster");
  EXPECT_EQ(rr::verdict_spread(rtt), "370–370×");
  // 1.29 times the floor's round trip: slower.
  const auto floor = rr::compare("rings", "w", figure("a", {129, 120, 140}, "ns"),
                                 figure("b", {100, 100, 100}, "ns"), false);
  EXPECT_EQ(rr::verdict(floor), "1.29× slower");
  EXPECT_EQ(rr::verdict_spread(floor), "1.24–1.34×");  // 1 / p75 and 1 / p25 of the speedups
  // Throughput: higher is better.
  const auto thr = rr::compare("rings", "w", figure("a", {387, 387, 387}, "items/s"),
                               figure("b", {100, 100, 100}, "items/s"), true);
  EXPECT_EQ(rr::verdict(thr), "3.87× faster");
  // Rounds that disagree on who wins: both ends in words.
  const auto mixed = rr::compare("rings", "w", figure("a", {50, 90, 400}, "items/s"),
                                 figure("b", {100, 100, 100}, "items/s"), true);
  EXPECT_EQ(rr::verdict(mixed), "1.11× slower");
  EXPECT_EQ(rr::verdict_spread(mixed), "1.43× slower – 2.45× faster");
  const auto half = rr::compare("rings", "w", figure("a", {50, 50, 50}, "items/s"),
                                figure("b", {100, 100, 100}, "items/s"), true);
  EXPECT_EQ(rr::verdict(half), "2.00× slower");
}

TEST(ReportFormat, SpreadsWriteTheUnitOnce) {
  rr::Spread s;
  s.rounds = {1.0};
  s.p25 = 210e6;
  s.p75 = 230e6;
  EXPECT_EQ(rr::format_spread(s, "items/s"), "210–230 M items/s");
  s.p25 = 950e3;
  s.p75 = 1.02e6;
  EXPECT_EQ(rr::format_spread(s, "items/s"), "950 k–1.02 M items/s");
  s.p25 = 170.0;
  s.p75 = 190.0;
  EXPECT_EQ(rr::format_spread(s, "ns"), "170–190 ns");
  s.p25 = 900.0;
  s.p75 = 1200.0;
  EXPECT_EQ(rr::format_spread(s, "ns"), "900 ns–1.20 µs");
  s.p25 = 3.51;
  s.p75 = 4.1;
  EXPECT_EQ(rr::format_spread(s, "x"), "3.51–4.10×");
  EXPECT_EQ(rr::format_spread(rr::Spread{}, "ns"), "");
}

TEST(ReportFormat, ReadersSeeNamesNotIdentifiers) {
  EXPECT_EQ(rr::display_name("submit_get_rtt_spin_p50"),
            "submit().get() round trip p50, spin mode");
  EXPECT_EQ(rr::display_name("apply_async_get_rtt_p50"), "apply_async().get() round trip p50");
  EXPECT_EQ(rr::display_name("boost-spsc_queue"), "Boost.Lockfree spsc_queue");
  EXPECT_EQ(rr::display_name("python-multiprocessing"), "Python multiprocessing");
  EXPECT_EQ(rr::display_name("pipe_connection_rtt_p50"), "Pipe send + recv round trip p50");
  EXPECT_EQ(rr::display_name("lock_contended"), "Lock acquire + release, 2 processes contending");
  EXPECT_EQ(rr::display_name("something-new"), "something-new");
}

TEST(ReportFormat, TextTablesAreAsWideAsTheirCells) {
  const std::string long_label = "MPMC 1 producer(s) + 1 consumer(s), 8-byte items";
  const std::string table = rr::render_text_table(
      {{"what"}, {"figure", true}}, {{long_label, "78.6 M items/s"}, {"short", "180 µs"}});
  // Nothing cut, and the right-aligned column ends at the same column on every line
  // (counted in characters: "µ" is one).
  EXPECT_NE(table.find(long_label), std::string::npos) << table;
  std::vector<std::size_t> widths;
  for (std::size_t pos = 0; pos < table.size();) {
    const std::size_t end = table.find('\n', pos);
    widths.push_back(rr::display_width(std::string_view(table).substr(pos, end - pos)));
    pos = end + 1;
  }
  ASSERT_EQ(widths.size(), 3U);
  EXPECT_EQ(widths[0], widths[1]);
  EXPECT_EQ(widths[1], widths[2]);
  EXPECT_EQ(rr::display_width("180 µs ×"), 8U);
}

TEST(ReportPlan, TheDefaultRunIsPlannedAtAboutTwoMinutesOnTwoCores) {
  // The machine the help text and README speak of: 2 cores, no SMT.
  const auto machine = ringpool::topology::Machine::from_synthetic("pack:1 core:2 pu:1");
  auto planned = [&](bool quick) {
    rr::ReportOptions o;
    o.quick = quick;
    const auto plan = rr::report_plan(o, machine);
    EXPECT_EQ(plan.size(), 5U);
    double total = 0.0;
    for (const auto& section : plan) total += section.expected_seconds;
    return total;
  };
  // About a minute, and the payload section up to 16 MiB (256 MiB is bench payload's only).
  EXPECT_GE(planned(false), 60.0);
  EXPECT_LE(planned(false), 130.0);
  // --quick: about half a minute (25-31 s measured on 2026-11-30, most of it Python's 16 MiB
  // payloads), not seconds.
  EXPECT_GE(planned(true), 10.0);
  EXPECT_LE(planned(true), 40.0);
  // More CPUs, more core pairs and MPMC splits: a longer run, as the help says.
  const auto big = ringpool::topology::Machine::from_synthetic("pack:2 core:8 pu:1");
  double big_total = 0.0;
  for (const auto& section : rr::report_plan(rr::ReportOptions{}, big))
    big_total += section.expected_seconds;
  EXPECT_GT(big_total, planned(false));
}
