// The report writers (JSON, HTML, SVG, text) over a hand-built model: shapes, escaping,
// self-containment, and the ratio arithmetic. The numbers here are test inputs, not
// measurements.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "ringpool/report/c2c.hpp"
#include "ringpool/report/format.hpp"
#include "ringpool/report/html.hpp"
#include "ringpool/report/json.hpp"
#include "ringpool/report/report.hpp"
#include "ringpool/report/svg.hpp"
#include "test_helpers.hpp"

namespace rr = ringpool::report;

namespace {
using ::ringpool::test::count_of;

rr::C2cPair c2c_pair(unsigned a, unsigned b, const char* relation, double p50, double p99,
                     std::vector<double> rounds) {
  rr::C2cPair p;
  p.a = a;
  p.b = b;
  p.relation = relation;
  p.one_way_ns_p50 = p50;
  p.one_way_ns_p99 = p99;
  p.round_min_ns = *std::min_element(rounds.begin(), rounds.end());
  p.round_max_ns = *std::max_element(rounds.begin(), rounds.end());
  p.one_way_ns_p50_spread = rr::spread_over_rounds(std::move(rounds));
  return p;
}

rr::C2cMatrix three_cpu_matrix() {
  rr::C2cMatrix m;
  m.cpus = {0, 1, 2};
  m.rounds = 3;
  m.round_trips_per_trial = 1000;
  m.pairs = {c2c_pair(0, 1, "same_l3", 60.0, 90.0, {55.0, 60.0, 70.0}),
             c2c_pair(0, 2, "cross_package", 150.0, 200.0, {140.0, 150.0, 160.0}),
             c2c_pair(1, 2, "cross_package", 140.0, 190.0, {130.0, 140.0, 150.0})};
  return m;
}

rr::RingRow ring_row(const char* transport, double items_per_s, std::vector<double> thr_rounds,
                     std::optional<double> rtt_p50, std::vector<double> rtt_rounds,
                     std::optional<double> rtt_p99) {
  rr::RingRow row;
  row.transport = transport;
  row.item_bytes = 8;
  row.batch = 1;
  row.items_per_s = items_per_s;
  row.items_per_s_spread = rr::spread_over_rounds(std::move(thr_rounds));
  row.rtt_ns_p50 = rtt_p50;
  row.rtt_ns_p50_spread = rr::spread_over_rounds(std::move(rtt_rounds));
  row.rtt_ns_p99 = rtt_p99;
  return row;
}

rr::Figure figure(const char* system, double value, const char* unit, std::vector<double> rounds) {
  rr::Figure f;
  f.system = system;
  f.value = value;
  f.unit = unit;
  f.cpus = "0,1";
  f.spread = rr::spread_over_rounds(std::move(rounds));
  return f;
}

rr::PoolRow pool_row(const char* system, const char* name, double value, const char* unit,
                     std::vector<double> rounds) {
  rr::PoolRow row;
  row.system = system;
  row.name = name;
  row.label = rr::display_name(name);
  row.value = value;
  row.unit = unit;
  row.spread = rr::spread_over_rounds(std::move(rounds));
  return row;
}

constexpr const char* kLongWhat = "MPMC 1 producer(s) + 1 consumer(s), 8-byte items";

rr::Report sample_report() {
  rr::Report r;
  r.machine.cpu_model = "Test <CPU> & co";
  r.machine.cpu_vendor = "AMD";
  r.machine.cpu_brand = "Virtual Test-like Processor";
  r.machine.cpu_family_model = "family 26 model 2 stepping 1";
  r.machine.hypervisor = "bhyve";
  r.machine.hypervisor_source = "cpuid";
  r.machine.ringpool_version = "0.1.0";
  r.command = "ringpool bench --quick";
  r.rounds = 3;
  rr::TopologySummary t;
  t.usable_cpus = "0-2";
  t.usable_cores = 3;
  t.plans.push_back({3, "parallel", 3, "cores", {"0", "1", "2"}, "3 tasks <= 3 cores"});
  r.topology = t;
  rr::RingSection rings;
  rings.pair = {0, 1, "same_l3", "closest pair"};
  rings.rounds = 3;
  rings.rows.push_back(
      ring_row("ringpool-spsc", 1.0e8, {0.9e8, 1.0e8, 1.1e8}, 150.0, {140, 150, 160}, 300.0));
  rings.rows.push_back(
      ring_row("boost-spsc_queue", 5.0e7, {4.9e7, 5.0e7, 5.1e7}, 270.0, {260, 270, 280}, 600.0));
  // Rounds that disagree: 1 to 3 M items/s around a 1 M median.
  rings.rows.push_back(
      ring_row("pipe", 1.0e6, {0.5e6, 1.0e6, 3.0e6}, 15000.0, {14000, 15000, 16000}, 30000.0));
  r.rings = rings;
  rr::MpmcSection mpmc;
  mpmc.rounds = 3;
  rr::MpmcRow m1;
  m1.producers = 1;
  m1.consumers = 1;
  m1.cpus = "0,1";
  m1.ringpool_items_per_s = 4.0e7;
  m1.boost_items_per_s = 2.0e7;
  m1.ringpool_spread = rr::spread_over_rounds({3.9e7, 4.0e7, 4.1e7});
  m1.boost_spread = rr::spread_over_rounds({1.9e7, 2.0e7, 2.1e7});
  rr::MpmcRow m2 = m1;
  m2.consumers = 2;
  m2.cpus = "0,1,2";
  m2.ringpool_items_per_s = 6.0e7;
  m2.boost_items_per_s = 2.4e7;
  mpmc.rows = {m1, m2};
  r.mpmc = mpmc;
  rr::PoolSection pool;
  pool.rounds = 3;
  pool.rows.push_back(
      pool_row("ringpool", "submit_get_rtt_spin_p50", 431.0, "ns", {420.0, 431.0, 440.0}));
  pool.rows.push_back(
      pool_row("ringpool", "submit_get_rtt_spin_p99", 900.0, "ns", {800.0, 900.0, 1000.0}));
  pool.rows.push_back(pool_row("python-multiprocessing", "apply_async_get_rtt_p50", 374'000.0, "ns",
                               {360'000.0, 374'000.0, 380'000.0}));
  r.pool = pool;
  r.c2c = three_cpu_matrix();
  r.comparisons.push_back(rr::compare(
      "rings", "SPSC throughput", figure("ringpool-spsc", 1.0e8, "items/s", {0.9e8, 1.0e8, 1.1e8}),
      figure("boost-spsc_queue", 5.0e7, "items/s", {4.9e7, 5.0e7, 5.1e7}), true));
  r.comparisons.push_back(
      rr::compare("rings", "SPSC round trip", figure("ringpool-spsc", 150.0, "ns", {140, 150, 160}),
                  figure("boost-spsc_queue", 270.0, "ns", {260, 270, 280}), false));
  r.comparisons.push_back(rr::compare(
      "mpmc", kLongWhat, figure("ringpool-mpmc", 4.0e7, "items/s", {3.9e7, 4.0e7, 4.1e7}),
      figure("boost-queue", 2.0e7, "items/s", {1.9e7, 2.0e7, 2.1e7}), true));
  r.comparisons.push_back(rr::compare(
      "pool", "Pool submit→get round trip p50, spin mode",
      figure("ringpool", 431.0, "ns", {420.0, 431.0, 440.0}),
      figure("python-multiprocessing", 374'000.0, "ns", {360'000.0, 374'000.0, 380'000.0}), false));
  rr::Target met;
  met.name = "SPSC throughput >= 1.5x";
  met.section = "rings";
  met.relation = ">=";
  met.threshold = 1.5;
  met.unit = "x";
  met.value = r.comparisons[0].ratio;
  met.spread = r.comparisons[0].ratio_spread;
  rr::evaluate(met);
  r.targets.push_back(met);
  rr::Target crosses = met;
  crosses.name = "SPSC throughput >= 1.95x";
  crosses.threshold = 1.95;  // the ratio's median 2.0 meets it, its p25 (1.92) does not
  rr::evaluate(crosses);
  r.targets.push_back(crosses);
  r.omitted.push_back({"tune", "the tuning is not part of the report"});
  return r;
}

}  // namespace

TEST(ReportFormat, RatesDurationsAndEscaping) {
  EXPECT_EQ(rr::format_rate(62'300'000.0, "items/s"), "62.3 M items/s");
  EXPECT_EQ(rr::format_rate(950.0, "tasks/s"), "950 tasks/s");
  EXPECT_EQ(rr::format_ns(130.0), "130 ns");
  EXPECT_EQ(rr::format_ns(16'700.0), "16.7 µs");
  EXPECT_EQ(rr::format_ns(3'500'000.0), "3.50 ms");
  EXPECT_EQ(rr::format_value(2.0, "ms"), "2.00 ms");
  EXPECT_EQ(rr::xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
}

TEST(ReportModel, CompareIsTheQuotientAndSpeedupTurnsLatenciesAround) {
  const auto thr =
      rr::compare("s", "w", {"a", 300.0, "items/s", "", {}}, {"b", 100.0, "items/s", "", {}}, true);
  EXPECT_DOUBLE_EQ(thr.ratio, 3.0);
  EXPECT_DOUBLE_EQ(thr.speedup, 3.0);
  const auto lat =
      rr::compare("s", "w", {"a", 100.0, "ns", "", {}}, {"b", 400.0, "ns", "", {}}, false);
  EXPECT_DOUBLE_EQ(lat.ratio, 0.25);
  EXPECT_DOUBLE_EQ(lat.speedup, 4.0);
}

TEST(ReportModel, C2cMatrixFindsPairsInEitherOrderAndNamesExtremes) {
  const auto m = three_cpu_matrix();
  ASSERT_NE(m.find(2, 0), nullptr);
  EXPECT_EQ(m.find(2, 0), m.find(0, 2));
  EXPECT_EQ(m.find(1, 1), nullptr);
  EXPECT_EQ(m.fastest()->relation, "same_l3");
  EXPECT_EQ(m.slowest()->a, 0U);
  EXPECT_EQ(m.slowest()->b, 2U);
}

TEST(ReportJson, C2cMatrixIsSquareWithNullDiagonal) {
  const auto j = rr::to_json(three_cpu_matrix());
  const auto& matrix = j.at("matrix_ns_p50");
  ASSERT_EQ(matrix.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(matrix[i].size(), 3U);
    EXPECT_TRUE(matrix[i][i].is_null());
    for (std::size_t k = 0; k < 3; ++k) {
      if (k != i) {
        EXPECT_EQ(matrix[i][k], matrix[k][i]);
      }
    }
  }
  EXPECT_EQ(j.at("fastest").at("cpus"), nlohmann::json({0, 1}));
  EXPECT_EQ(j.at("slowest").at("relation"), "cross_package");
}

TEST(ReportJson, ReportHasItsSectionsAndListsOmittedOnes) {
  const auto j = rr::to_json(sample_report());
  EXPECT_EQ(j.at("format"), rr::kReportFormat);
  for (const char* key :
       {"machine", "topology", "rings", "mpmc", "pool", "c2c", "comparisons", "targets"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j.at("omitted").at(0).at("section"), "tune");
  EXPECT_TRUE(j.at("rings").at("rows").at(0).at("rtt_ns_p50").is_number());
  EXPECT_DOUBLE_EQ(j.at("mpmc").at("rows").at(1).at("ringpool_items_per_s_per_core").get<double>(),
                   2.0e7);
}

TEST(ReportJson, MachineNamesCpuVendorAndHypervisor) {
  const auto m = rr::to_json(sample_report()).at("machine");
  EXPECT_EQ(m.at("cpu_vendor"), "AMD");
  EXPECT_EQ(m.at("cpu_brand"), "Virtual Test-like Processor");
  EXPECT_EQ(m.at("cpu_family_model"), "family 26 model 2 stepping 1");
  EXPECT_EQ(m.at("hypervisor"), "bhyve");
  EXPECT_EQ(m.at("hypervisor_source"), "cpuid");
}

TEST(ReportJson, EveryRowCarriesItsSpreadAndUnstableFlag) {
  const auto j = rr::to_json(sample_report());
  EXPECT_DOUBLE_EQ(j.at("unstable_spread").get<double>(), rr::kUnstableSpread);
  const auto& rows = j.at("rings").at("rows");
  const auto& spsc = rows.at(0).at("items_per_s_spread");
  EXPECT_DOUBLE_EQ(spsc.at("p25").get<double>(), 0.95e8);
  EXPECT_DOUBLE_EQ(spsc.at("p75").get<double>(), 1.05e8);
  EXPECT_EQ(spsc.at("rounds").size(), 3U);
  EXPECT_FALSE(rows.at(0).at("unstable").get<bool>());
  EXPECT_TRUE(rows.at(2).at("unstable").get<bool>());  // pipe: 0.75-2 M around 1 M
  EXPECT_TRUE(rows.at(2).at("items_per_s_spread").at("unstable").get<bool>());
  EXPECT_FALSE(rows.at(2).at("rtt_ns_p50_spread").at("unstable").get<bool>());
  EXPECT_TRUE(j.at("mpmc").at("rows").at(0).at("ringpool_items_per_s_spread").is_object());
  EXPECT_TRUE(j.at("pool").at("rows").at(0).at("spread").is_object());
  EXPECT_EQ(j.at("pool").at("rows").at(0).at("label"), "submit().get() round trip p50, spin mode");
  EXPECT_TRUE(j.at("c2c").at("pairs").at(0).at("one_way_ns_p50_spread").is_object());
}

TEST(ReportJson, ComparisonsSayFasterWithTheRatioSpread) {
  const auto j = rr::to_json(sample_report());
  const auto& c = j.at("comparisons");
  ASSERT_EQ(c.size(), 4U);
  EXPECT_EQ(c.at(0).at("verdict"), "2.00× faster");
  EXPECT_EQ(c.at(1).at("verdict"), "1.80× faster");
  // The pool round trip: 868 times shorter than Python's, never "0.00×".
  EXPECT_EQ(c.at(3).at("verdict"), "868× faster");
  EXPECT_NEAR(c.at(3).at("ratio").get<double>(), 431.0 / 374'000.0, 1e-15);
  const auto& spread = c.at(0).at("ratio_spread");
  EXPECT_LT(spread.at("p25").get<double>(), 2.0);
  EXPECT_GT(spread.at("p75").get<double>(), 2.0);
  EXPECT_FALSE(c.at(0).at("unstable").get<bool>());
  EXPECT_FALSE(c.at(0).at("verdict_spread").get<std::string>().empty());
}

TEST(ReportJson, TargetsSayWhetherTheWholeRangeMeetsThem) {
  const auto j = rr::to_json(sample_report());
  const auto& t = j.at("targets");
  ASSERT_EQ(t.size(), 2U);
  EXPECT_EQ(t.at(0).at("status"), "met");
  EXPECT_TRUE(t.at(0).at("met").get<bool>());
  EXPECT_EQ(t.at(1).at("status"), "spread_crosses");
  EXPECT_FALSE(t.at(1).at("met").get<bool>());
  EXPECT_EQ(t.at(1).at("relation"), ">=");
  EXPECT_TRUE(t.at(1).at("spread").is_object());
}

TEST(ReportSvg, HeatmapHasOneCellPerMatrixEntry) {
  const std::string svg = rr::c2c_heatmap_svg(three_cpu_matrix());
  EXPECT_EQ(svg.rfind("<svg", 0), 0U);
  // 9 matrix cells + 10 colour-scale steps + 1 background.
  EXPECT_EQ(count_of(svg, "<rect"), 9U + 10U + 1U);
  EXPECT_EQ(count_of(svg, "<title>CPU "), 6U);  // the off-diagonal cells carry a tooltip
}

TEST(ReportSvg, ChartsHandleOnePointAndEmptyInput) {
  rr::LineChart line{"t", "x", "y", "items/s", {{"a", {{2.0, 5.0e7}}}}};
  const std::string one = rr::line_chart_svg(line);
  EXPECT_NE(one.find("<circle"), std::string::npos);
  EXPECT_EQ(one.find("nan"), std::string::npos);
  const std::string empty = rr::bar_chart_svg(rr::BarChart{"t", "x", {"p50"}, {}});
  EXPECT_NE(empty.find("</svg>"), std::string::npos);
  EXPECT_EQ(empty.find("nan"), std::string::npos);
  EXPECT_EQ(empty.find("inf"), std::string::npos);
}

TEST(ReportSvg, LongBarLabelsWrapIntoTwoLinesAndWidenTheMargin) {
  const std::string label = "Python multiprocessing: apply_async().get() round trip";
  const std::string shortish =
      rr::bar_chart_svg(rr::BarChart{"t", "x", {"p50"}, {{"pipe", {1e4}}}});
  const std::string longer =
      rr::bar_chart_svg(rr::BarChart{"t", "x", {"p50"}, {{label, {1e4}}, {"pipe", {1e3}}}});
  EXPECT_NE(longer.find(">Python multiprocessing:<"), std::string::npos) << longer;
  EXPECT_NE(longer.find(">apply_async().get() round trip<"), std::string::npos) << longer;
  // The bars start right of the widest label line: the margin grew with the label.
  auto bar_x = [](const std::string& svg) {
    const auto rect = svg.find("<rect x=\"", svg.find("<title>"));
    return std::stoi(svg.substr(rect + 9));
  };
  EXPECT_GT(bar_x(longer), bar_x(shortish));
}

TEST(ReportHtml, PageIsSelfContainedEscapedAndCarriesTheValues) {
  const std::string html = rr::render_html(sample_report());
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  // The only URL is the SVG namespace, never fetched.
  EXPECT_EQ(count_of(html, "http"), count_of(html, "http://www.w3.org/2000/svg"));
  EXPECT_NE(html.find("Test &lt;CPU&gt; &amp; co"), std::string::npos);
  EXPECT_EQ(html.find("Test <CPU>"), std::string::npos);
  EXPECT_EQ(count_of(html, "<svg"), 3U);  // latency bars, MPMC line chart, c2c heatmap
  EXPECT_NE(html.find("data-value=\"100000000\""), std::string::npos);
  EXPECT_NE(html.find("not measured: the tuning is not part of the report"), std::string::npos);
}

TEST(ReportHtml, MachineTableNamesCpuVendorAndHypervisor) {
  const std::string html = rr::render_html(sample_report());
  EXPECT_NE(html.find("<th>CPU vendor</th><td>AMD</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>CPUID brand string</th><td>Virtual Test-like Processor</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<th>Hypervisor</th><td>bhyve (from cpuid)</td>"), std::string::npos);
}

TEST(ReportHtml, SpreadsUnderTheMediansAndUnstableRowsFlagged) {
  const std::string html = rr::render_html(sample_report());
  EXPECT_NE(html.find("data-p25=\"95000000\" data-p75=\"105000000\""), std::string::npos);
  EXPECT_NE(html.find("<span class=\"spread\">95.0–105 M items/s</span>"), std::string::npos);
  // Exactly the pipe row is unstable, and the page says so above the tables.
  EXPECT_EQ(count_of(html, "<tr class=\"unstable\">"), 1U);
  EXPECT_NE(html.find("unstable (125 %)"), std::string::npos);
  EXPECT_NE(html.find("<b>1 row(s) unstable</b>"), std::string::npos);
}

TEST(ReportHtml, HeadlineSaysFasterAndTargetsNeedTheWholeRange) {
  const std::string html = rr::render_html(sample_report());
  EXPECT_NE(html.find(">868× faster<"), std::string::npos);
  EXPECT_EQ(html.find("0.00×"), std::string::npos);
  EXPECT_NE(html.find("<table class=\"targets\">"), std::string::npos);
  EXPECT_NE(html.find("data-status=\"met\">met<"), std::string::npos);
  EXPECT_NE(html.find("data-status=\"spread_crosses\">not met: the p25–p75 range crosses"),
            std::string::npos);
}

TEST(ReportHtml, ReadersSeeLabelsNotCaseNames) {
  const std::string html = rr::render_html(sample_report());
  // Case identifiers stay in attributes for programs; the text readers see is the label.
  EXPECT_NE(html.find("data-case=\"submit_get_rtt_spin_p50\">submit().get() round trip p50, "
                      "spin mode<"),
            std::string::npos);
  EXPECT_EQ(html.find(">submit_get_rtt"), std::string::npos);
  EXPECT_EQ(html.find(">python-multiprocessing"), std::string::npos);
  // The chart's label, wrapped into two lines.
  EXPECT_NE(html.find(">ringpool: submit().get()<"), std::string::npos);
  EXPECT_NE(html.find(">round trip, spin mode<"), std::string::npos);
}

TEST(ReportText, TablesKeepWholeLabelsSpreadsVerdictsAndFlags) {
  const std::string text = rr::format_results_text(sample_report());
  EXPECT_NE(text.find(kLongWhat), std::string::npos) << text;
  EXPECT_NE(text.find("868× faster"), std::string::npos) << text;
  EXPECT_EQ(text.find("0.00×"), std::string::npos) << text;
  EXPECT_NE(text.find("95.0–105 M items/s"), std::string::npos) << text;
  EXPECT_NE(text.find("UNSTABLE (125 %)"), std::string::npos) << text;
  EXPECT_NE(text.find("1 row(s) marked UNSTABLE"), std::string::npos) << text;
  EXPECT_NE(text.find("[met]"), std::string::npos) << text;
  EXPECT_NE(text.find("[NOT MET: the p25-p75 range crosses it]"), std::string::npos) << text;
  EXPECT_NE(text.find("submit().get() round trip p50, spin mode"), std::string::npos) << text;
}

TEST(ReportText, MachineTextNamesCpuVendorAndHypervisor) {
  const std::string text = rr::format_machine_text(sample_report().machine);
  EXPECT_NE(text.find("vendor AMD"), std::string::npos) << text;
  EXPECT_NE(text.find("hypervisor: bhyve (from cpuid)"), std::string::npos) << text;
}

TEST(ReportText, C2cTextNamesFastestAndSlowestPairs) {
  const std::string text = rr::format_c2c_text(three_cpu_matrix());
  EXPECT_NE(text.find("fastest pair: CPU 0 <-> CPU 1 (same_l3)"), std::string::npos);
  EXPECT_NE(text.find("slowest pair: CPU 0 <-> CPU 2 (cross_package)"), std::string::npos);
  EXPECT_NE(text.find("per-round medians p25-p75 57.5–65.0 ns"), std::string::npos) << text;
}
