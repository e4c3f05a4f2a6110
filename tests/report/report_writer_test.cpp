// The report writers (JSON, HTML, SVG, text) over a hand-built model: shapes, escaping,
// self-containment, and the ratio arithmetic. The numbers here are test inputs, not
// measurements.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "ringpool/report/c2c.hpp"
#include "ringpool/report/format.hpp"
#include "ringpool/report/html.hpp"
#include "ringpool/report/json.hpp"
#include "ringpool/report/svg.hpp"

namespace rr = ringpool::report;

namespace {

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

rr::C2cMatrix three_cpu_matrix() {
  rr::C2cMatrix m;
  m.cpus = {0, 1, 2};
  m.rounds = 3;
  m.round_trips_per_trial = 1000;
  m.pairs = {{0, 1, "same_l3", 60.0, 90.0, 55.0, 70.0},
             {0, 2, "cross_package", 150.0, 200.0, 140.0, 160.0},
             {1, 2, "cross_package", 140.0, 190.0, 130.0, 150.0}};
  return m;
}

rr::Report sample_report() {
  rr::Report r;
  r.machine.cpu_model = "Test <CPU> & co";
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
  rings.rows.push_back({"ringpool-spsc", 8, 1, 1.0e8, 150.0, 300.0});
  rings.rows.push_back({"boost-spsc_queue", 8, 1, 5.0e7, 270.0, 600.0});
  rings.rows.push_back({"pipe", 8, 1, 1.0e6, 15000.0, 30000.0});
  r.rings = rings;
  rr::MpmcSection mpmc;
  mpmc.rounds = 3;
  mpmc.rows.push_back({1, 1, "0,1", 4.0e7, 2.0e7});
  mpmc.rows.push_back({1, 2, "0,1,2", 6.0e7, 2.4e7});
  r.mpmc = mpmc;
  r.c2c = three_cpu_matrix();
  r.comparisons.push_back(rr::compare("rings", "SPSC throughput",
                                      {"ringpool-spsc", 1.0e8, "items/s", "0,1"},
                                      {"boost-spsc_queue", 5.0e7, "items/s", "0,1"}, true));
  r.comparisons.push_back(rr::compare("rings", "SPSC round trip",
                                      {"ringpool-spsc", 150.0, "ns", "0,1"},
                                      {"boost-spsc_queue", 270.0, "ns", "0,1"}, false));
  r.omitted.push_back({"pool", "the pool benchmark is not built"});
  return r;
}

}  // namespace

TEST(ReportFormat, RatesDurationsAndRatios) {
  EXPECT_EQ(rr::format_rate(62'300'000.0, "items/s"), "62.3 M items/s");
  EXPECT_EQ(rr::format_rate(950.0, "tasks/s"), "950 tasks/s");
  EXPECT_EQ(rr::format_ns(130.0), "130 ns");
  EXPECT_EQ(rr::format_ns(16'700.0), "16.7 µs");
  EXPECT_EQ(rr::format_ns(3'500'000.0), "3.50 ms");
  EXPECT_EQ(rr::format_ratio(1.534), "1.53×");
  EXPECT_EQ(rr::format_value(2.0, "ms"), "2.00 ms");
  EXPECT_EQ(rr::xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
}

TEST(ReportModel, CompareIsTheQuotientAndSpeedupTurnsLatenciesAround) {
  const auto thr =
      rr::compare("s", "w", {"a", 300.0, "items/s", ""}, {"b", 100.0, "items/s", ""}, true);
  EXPECT_DOUBLE_EQ(thr.ratio, 3.0);
  EXPECT_DOUBLE_EQ(thr.speedup, 3.0);
  const auto lat = rr::compare("s", "w", {"a", 100.0, "ns", ""}, {"b", 400.0, "ns", ""}, false);
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
  for (const char* key : {"machine", "topology", "rings", "mpmc", "c2c", "comparisons"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_FALSE(j.contains("pool"));
  EXPECT_EQ(j.at("omitted").at(0).at("section"), "pool");
  EXPECT_TRUE(j.at("rings").at("rows").at(0).at("rtt_ns_p50").is_number());
  EXPECT_DOUBLE_EQ(j.at("mpmc").at("rows").at(1).at("ringpool_items_per_s_per_core").get<double>(),
                   2.0e7);
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
  EXPECT_NE(html.find("not measured: the pool benchmark is not built"), std::string::npos);
}

TEST(ReportText, C2cTextNamesFastestAndSlowestPairs) {
  const std::string text = rr::format_c2c_text(three_cpu_matrix());
  EXPECT_NE(text.find("fastest pair: CPU 0 <-> CPU 1 (same_l3)"), std::string::npos);
  EXPECT_NE(text.find("slowest pair: CPU 0 <-> CPU 2 (cross_package)"), std::string::npos);
}
