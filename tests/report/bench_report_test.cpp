// `ringpool bench --quick`: the report's JSON has every section with sane values (positive,
// finite, ratios equal to the quotient of the two figures from the same run, spreads over
// the rounds, targets judged on their whole range, "faster"/"slower" words that match the
// numbers), progress lines on stderr, and the HTML page renders in headless Chromium with
// tables, SVG charts whose labels fit, reader labels and the measured values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "run_cli.hpp"

namespace rt = ringpool::report::testing;

namespace {

bool positive_finite(const nlohmann::json& v) {
  return v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() > 0.0;
}

// Runs the quick report once per test process, writing JSON and HTML into `dir`.
nlohmann::json run_quick_report(const rt::ScratchDir& dir) {
  const auto r = rt::run_ringpool(
      "bench --quick --json-file " + dir.file("report.json") + " --html " + dir.file("report.html"),
      dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("plan for"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("headline"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("targets:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cpu: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hypervisor: "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("0.00×"), std::string::npos) << r.out;
  // stderr is a file: one progress line per section, then the total; no bar drawing.
  for (const char* line :
       {"ringpool bench: [1/5] core-to-core latency", "ringpool bench: [2/5] rings and their peers",
        "ringpool bench: [3/5] MPMC scaling", "ringpool bench: [4/5] pool dispatch",
        "ringpool bench: [5/5] payload sizes", "ringpool bench: done in"}) {
    EXPECT_NE(r.err.find(line), std::string::npos) << line << " in\n" << r.err;
  }
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  return nlohmann::json::parse(rt::slurp(dir.file("report.json")));
}

// A spread object of the JSON: quartiles around the median it belongs to, one value per round.
struct Rounds {
  std::size_t count = 0;         // the report's rounds
  double unstable_spread = 0.0;  // its threshold for "unstable"
};

void check_spread(const nlohmann::json& spread, double median, const Rounds& rounds,
                  const std::string& what) {
  ASSERT_TRUE(spread.is_object()) << what;
  const double p25 = spread.at("p25").get<double>();
  const double p75 = spread.at("p75").get<double>();
  EXPECT_LE(p25, p75) << what;
  EXPECT_EQ(spread.at("rounds").size(), rounds.count) << what;
  const double relative = spread.at("relative").get<double>();
  EXPECT_NEAR(relative, (p75 - p25) / median, 1e-9 * std::max(1.0, relative)) << what;
  EXPECT_EQ(spread.at("unstable").get<bool>(), relative > rounds.unstable_spread) << what;
}

std::string chromium_flags(const rt::ScratchDir& dir) {
  return std::string(
             "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync "
             "--user-data-dir=") +
         dir.file("chromium-profile") + " --window-size=1200,2000";
}

// The JSON: every section, sane values, ratios that are the quotient of their figures.
void check_report_json(const nlohmann::json& j) {
  EXPECT_EQ(j.at("format"), "ringpool-report-1");
  EXPECT_EQ(j.at("ringpool_version"), RINGPOOL_VERSION);
  EXPECT_TRUE(j.at("quick").get<bool>());
  const auto& m = j.at("machine");
  for (const char* key :
       {"cpu_model", "cpu_vendor", "kernel", "compiler", "build_type", "date_utc"}) {
    EXPECT_FALSE(m.at(key).get<std::string>().empty()) << key;
  }
  // The hypervisor is named with where it was read, or both are empty on bare metal.
  EXPECT_EQ(m.at("hypervisor").get<std::string>().empty(),
            m.at("hypervisor_source").get<std::string>().empty());
  EXPECT_GE(m.at("online_cpus").get<int>(), 1);
  const Rounds rounds{j.at("rounds").get<std::size_t>(), j.at("unstable_spread").get<double>()};

  // Topology: usable CPUs and the plans for N and 4 x N tasks.
  const auto& t = j.at("topology");
  const auto n = t.at("usable_cores").get<std::size_t>();
  ASSERT_GE(n, 2U) << "the report needs two usable cores";
  ASSERT_EQ(t.at("plans").size(), 2U);
  EXPECT_EQ(t.at("plans")[0].at("tasks"), n);
  EXPECT_EQ(t.at("plans")[0].at("mode"), "parallel");
  EXPECT_EQ(t.at("plans")[1].at("tasks"), 4 * n);
  EXPECT_EQ(t.at("plans")[1].at("mode"), "concurrent");

  // Every section measured; nothing omitted on this machine.
  for (const char* section : {"rings", "mpmc", "pool", "c2c"}) {
    EXPECT_TRUE(j.contains(section)) << section << " missing; omitted: " << j.at("omitted").dump();
  }
  EXPECT_TRUE(j.at("omitted").empty()) << j.at("omitted").dump();

  // Rings on the recommended pair: every row has a positive throughput; round trips where
  // they apply.
  std::set<std::string> transports;
  for (const auto& row : j.at("rings").at("rows")) {
    transports.insert(row.at("transport").get<std::string>());
    EXPECT_TRUE(positive_finite(row.at("items_per_s"))) << row.dump();
    check_spread(row.at("items_per_s_spread"), row.at("items_per_s").get<double>(), rounds,
                 row.dump());
    EXPECT_FALSE(row.at("label").get<std::string>().empty());
    if (row.at("batch") == 1) {
      check_spread(row.at("rtt_ns_p50_spread"), row.at("rtt_ns_p50").get<double>(), rounds,
                   row.dump());
      EXPECT_TRUE(positive_finite(row.at("rtt_ns_p50"))) << row.dump();
      EXPECT_GE(row.at("rtt_ns_p99").get<double>(), row.at("rtt_ns_p50").get<double>())
          << row.dump();
    }
  }
  for (const char* tr : {"ringpool-spsc", "ringpool-mpmc", "boost-spsc_queue", "boost-queue",
                         "pipe", "cacheline-pingpong"}) {
    EXPECT_TRUE(transports.count(tr)) << tr;
  }
  const auto& pair = j.at("rings").at("pair").at("cpus");
  EXPECT_NE(pair[0], pair[1]);

  // MPMC: one row per core count 2..n (balanced split), per-core = total / cores.
  const auto& mpmc = j.at("mpmc").at("rows");
  ASSERT_FALSE(mpmc.empty());
  for (const auto& row : mpmc) {
    const auto cores = row.at("producers").get<unsigned>() + row.at("consumers").get<unsigned>();
    EXPECT_EQ(row.at("cores").get<unsigned>(), cores);
    EXPECT_LE(cores, n);
    EXPECT_TRUE(positive_finite(row.at("ringpool_items_per_s"))) << row.dump();
    EXPECT_TRUE(positive_finite(row.at("boost_items_per_s"))) << row.dump();
    EXPECT_DOUBLE_EQ(row.at("ringpool_items_per_s_per_core").get<double>(),
                     row.at("ringpool_items_per_s").get<double>() / cores);
    check_spread(row.at("ringpool_items_per_s_spread"),
                 row.at("ringpool_items_per_s").get<double>(), rounds, row.dump());
    check_spread(row.at("boost_items_per_s_spread"), row.at("boost_items_per_s").get<double>(),
                 rounds, row.dump());
  }

  // Pool: ringpool's dispatch figures, positive.
  std::set<std::string> pool_cases;
  for (const auto& row : j.at("pool").at("rows")) {
    EXPECT_TRUE(positive_finite(row.at("value"))) << row.dump();
    check_spread(row.at("spread"), row.at("value").get<double>(), rounds, row.dump());
    EXPECT_NE(row.at("label"), row.at("case")) << "a reader's label for every case";
    if (row.at("system") == "ringpool") pool_cases.insert(row.at("case").get<std::string>());
  }
  for (const char* c : {"submit_get_rtt_spin_p50", "map_default_chunksize",
                        "pipe_connection_rtt_p50", "lock_contended", "pthread_mutex_contended"}) {
    EXPECT_TRUE(pool_cases.count(c)) << c;
  }

  // c2c over the usable CPUs: square matrix.
  const auto& c2c = j.at("c2c");
  EXPECT_EQ(c2c.at("matrix_ns_p50").size(), c2c.at("cpus").size());

  // The headline: each ratio is exactly ours / peer, speedup turns latencies around.
  const auto& comparisons = j.at("comparisons");
  ASSERT_GE(comparisons.size(), 5U);
  std::set<std::string> sections;
  for (const auto& c : comparisons) {
    sections.insert(c.at("section").get<std::string>());
    const double ours = c.at("ours").at("value").get<double>();
    const double peer = c.at("peer").at("value").get<double>();
    ASSERT_TRUE(positive_finite(c.at("ours").at("value"))) << c.dump();
    ASSERT_TRUE(positive_finite(c.at("peer").at("value"))) << c.dump();
    EXPECT_NEAR(c.at("ratio").get<double>(), ours / peer, 1e-12 * (ours / peer)) << c.dump();
    const double expected_speedup =
        c.at("higher_is_better").get<bool>() ? ours / peer : peer / ours;
    EXPECT_NEAR(c.at("speedup").get<double>(), expected_speedup, 1e-9 * expected_speedup);
    EXPECT_EQ(c.at("ours").at("unit"), c.at("peer").at("unit")) << c.dump();
    // The words say the same as the numbers: "N× faster" with N = speedup, or "N× slower"
    // with N = 1 / speedup, N never below 1.
    const std::string verdict = c.at("verdict").get<std::string>();
    const double factor = std::stod(verdict);
    const double speedup = c.at("speedup").get<double>();
    if (speedup >= 1.0) {
      EXPECT_NE(verdict.find("× faster"), std::string::npos) << verdict;
      EXPECT_NEAR(factor, speedup, 0.01 * speedup) << verdict;
    } else {
      EXPECT_NE(verdict.find("× slower"), std::string::npos) << verdict;
      EXPECT_NEAR(factor, 1.0 / speedup, 0.01 / speedup) << verdict;
    }
    EXPECT_GE(factor, 1.0) << verdict;
    check_spread(c.at("ratio_spread"), c.at("ratio").get<double>(), rounds, c.dump());
  }

  // The payload section: 1 KiB and 16 MiB (--quick); each case has a positive value or says
  // why not (a size this build refuses is "unsupported"), never a made-up number.
  const auto& payload = j.at("payload");
  EXPECT_EQ(payload.at("sizes"), (std::vector<std::size_t>{1024, 16U << 20}));
  bool payload_16mib_measured = payload.at("python").get<bool>();
  for (const auto& row : payload.at("rows")) {
    if (row.at("value").is_null()) {
      EXPECT_FALSE(row.at("missing").get<std::string>().empty()) << row.dump();
      EXPECT_TRUE(row.at("spread").is_null()) << row.dump();
    } else {
      EXPECT_TRUE(positive_finite(row.at("value"))) << row.dump();
    }
    if (row.at("system") == "ringpool" && row.at("case") == "submit_get_echo") {
      if (row.at("bytes") == 1024) {
        EXPECT_TRUE(positive_finite(row.at("value"))) << row.dump();
      }
      if (row.at("bytes") == 16U << 20 && row.at("value").is_null()) {
        EXPECT_TRUE(row.at("unsupported").get<bool>()) << row.dump();
        payload_16mib_measured = false;
      }
    }
  }

  // The targets: every one measured here (the payload's two where this build and Python run
  // 16 MiB), met only when its whole range meets it.
  const auto& targets = j.at("targets");
  EXPECT_EQ(targets.size(), 10U);
  for (const auto& target : targets) {
    const std::string status = target.at("status").get<std::string>();
    if (target.at("section") == "payload" && !payload_16mib_measured) {
      EXPECT_NE(status, "met") << target.dump();
      continue;
    }
    ASSERT_NE(status, "not_measured") << target.dump();
    const double value = target.at("value").get<double>();
    const double threshold = target.at("threshold").get<double>();
    const bool at_least = target.at("relation") == ">=";
    const double worst = target.at("spread").at(at_least ? "p25" : "p75").get<double>();
    auto meets = [&](double v) { return at_least ? v >= threshold : v <= threshold; };
    EXPECT_EQ(target.at("met").get<bool>(), meets(value) && meets(worst)) << target.dump();
    EXPECT_EQ(status == "missed", !meets(value)) << target.dump();
  }
  EXPECT_TRUE(sections.count("rings"));
  EXPECT_TRUE(sections.count("mpmc"));
  EXPECT_TRUE(sections.count("pool"));
  // Pipe and Lock against their OS peers (always measured) and Python's (when it ran).
  std::set<std::string> peers_of;
  for (const auto& c : comparisons) {
    peers_of.insert(c.at("what").get<std::string>() + " | " +
                    c.at("peer").at("system").get<std::string>());
  }
  EXPECT_TRUE(
      peers_of.count("Pipe send→recv round trip p50 vs a pipe(2) ping-pong | pipe (same "
                     "CPUs)"));
  EXPECT_TRUE(
      peers_of.count("Lock acquire/release, 2 processes contending, vs a pthread mutex | "
                     "pthread mutex (process-shared)"));
  bool python_ran = false;
  for (const auto& row : j.at("pool").at("rows")) {
    python_ran = python_ran || row.at("system") == "python-multiprocessing";
  }
  if (python_ran) {
    EXPECT_TRUE(peers_of.count("Pipe send→recv round trip p50 | python-multiprocessing"));
    EXPECT_TRUE(
        peers_of.count("Lock acquire/release, 2 processes contending | "
                       "python-multiprocessing"));
  }
  // The same comparison figures appear in the ring rows they come from.
  const auto& rows = j.at("rings").at("rows");
  for (const auto& c : comparisons) {
    if (c.at("section") != "rings" || c.at("ours").at("unit") != "items/s") continue;
    bool found = false;
    for (const auto& row : rows) {
      found = found || (row.at("transport") == c.at("ours").at("system") &&
                        row.at("items_per_s") == c.at("ours").at("value"));
    }
    EXPECT_TRUE(found) << c.dump();
  }
}

// The page, rendered by headless Chromium: tables, SVG charts and every headline value.
void check_report_html(const nlohmann::json& j, const rt::ScratchDir& dir) {
  const std::string chromium = RINGPOOL_CHROMIUM;
  if (chromium.empty()) {
    ADD_FAILURE() << "chromium not found at configure time (scripts/setup.sh installs it)";
    return;
  }
  const std::string url = "file://" + dir.file("report.html");

  const auto dom =
      rt::run_shell("'" + chromium + "' " + chromium_flags(dir) + " --dump-dom '" + url + "'", dir);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  ASSERT_NE(dom.out.find("ringpool bench report"), std::string::npos) << dom.out.substr(0, 500);
  const std::string& html = dom.out;
  for (const char* table :
       {"class=\"machine\"", "class=\"topology\"", "class=\"plans\"", "class=\"comparisons\"",
        "class=\"rings\"", "class=\"mpmc\"", "class=\"pool\"", "class=\"c2c\"",
        "class=\"payload-rtt\"", "class=\"payload-stream\""}) {
    EXPECT_NE(html.find("<table " + std::string(table)), std::string::npos) << table;
  }
  std::size_t svgs = 0;
  for (auto pos = html.find("<svg"); pos != std::string::npos; pos = html.find("<svg", pos + 1))
    ++svgs;
  EXPECT_GE(svgs, 3U) << "latency bars, MPMC line chart, c2c heatmap";
  EXPECT_NE(html.find("Core-to-core one-way latency"), std::string::npos);
  EXPECT_NE(html.find("MPMC throughput per core against core count"), std::string::npos);
  EXPECT_NE(html.find("Round-trip latency per transport"), std::string::npos);

  // Every headline figure of the JSON is in the rendered page (raw, in data-value).
  std::vector<double> values;
  // A plain scan rather than <regex>: GCC 12 warns falsely inside <regex> under -fsanitize.
  const std::string key = "data-value=\"";
  for (auto pos = html.find(key); pos != std::string::npos; pos = html.find(key, pos)) {
    pos += key.size();
    const auto end = html.find('"', pos);
    ASSERT_NE(end, std::string::npos) << "unterminated data-value attribute";
    values.push_back(std::stod(html.substr(pos, end - pos)));
  }
  ASSERT_FALSE(values.empty());
  auto present = [&](double v) {
    return std::any_of(values.begin(), values.end(),
                       [v](double x) { return std::fabs(x - v) <= 1e-9 * std::fabs(v); });
  };
  for (const auto& c : j.at("comparisons")) {
    EXPECT_TRUE(present(c.at("ours").at("value").get<double>())) << c.dump();
    EXPECT_TRUE(present(c.at("peer").at("value").get<double>())) << c.dump();
    EXPECT_TRUE(present(c.at("ratio").get<double>())) << c.dump();
  }

  // Readers see labels: no raw case identifier in the page's text (attributes aside).
  std::string visible;
  bool in_tag = false;
  for (char ch : html) {
    if (ch == '<') in_tag = true;
    if (!in_tag) visible += ch;
    if (ch == '>') in_tag = false;
  }
  for (const char* id : {"submit_get_rtt", "apply_async_get_rtt", "map_default_chunksize",
                         "imap_unordered_chunksize_1", "python-multiprocessing",
                         "pipe_connection_rtt", "lock_contended", "pthread_mutex_contended"}) {
    EXPECT_EQ(visible.find(id), std::string::npos) << id;
  }
  EXPECT_EQ(visible.find("0.00×"), std::string::npos);
  EXPECT_NE(html.find("<table class=\"targets\">"), std::string::npos);
  EXPECT_NE(visible.find("CPU vendor"), std::string::npos);
  EXPECT_NE(visible.find("Hypervisor"), std::string::npos);

  // Every chart label fits its chart: measured by Chromium's layout (the rendered boxes of
  // each SVG text and of its chart) in a copy of the page with a checking script added (the
  // report itself has none). The labels cut on the left before this check existed fail it.
  std::string checked = rt::slurp(dir.file("report.html"));
  const auto body_end = checked.rfind("</body>");
  ASSERT_NE(body_end, std::string::npos);
  checked.insert(body_end, R"(<script>
(() => {
  const texts = document.querySelectorAll('svg text');
  const outside = [];
  texts.forEach(t => {
    const box = t.ownerSVGElement.getBoundingClientRect();
    const r = t.getBoundingClientRect();
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 ||
        r.bottom > box.bottom + 0.5) {
      outside.push(t.textContent + ' [' + (r.left - box.left).toFixed(1) + ', ' +
                   (r.right - box.left).toFixed(1) + '] in [0, ' + box.width.toFixed(1) + ']');
    }
  });
  const pre = document.createElement('pre');
  pre.id = 'label-check';
  pre.textContent = 'labels ' + texts.length + ' outside ' + outside.length + ': ' +
                    outside.join(' | ');
  document.body.appendChild(pre);
})();
</script>
)");
  {
    std::ofstream out(dir.file("checked.html"));
    out << checked;
  }
  const auto measured = rt::run_shell("'" + chromium + "' " + chromium_flags(dir) +
                                          " --dump-dom 'file://" + dir.file("checked.html") + "'",
                                      dir);
  ASSERT_EQ(measured.exit_code, 0) << measured.err;
  const std::string marker = "<pre id=\"label-check\">labels ";
  const auto at = measured.out.find(marker);
  ASSERT_NE(at, std::string::npos) << "the checking script did not run";
  const auto start = at + marker.size();
  const std::string result = measured.out.substr(start, measured.out.find("</pre>", start) - start);
  EXPECT_GT(std::stoi(result), 20) << result;
  EXPECT_NE(result.find(" outside 0: "), std::string::npos) << result;

  // And it paints: a PNG screenshot of the page.
  const std::string png = dir.file("report.png");
  const auto shot = rt::run_shell(
      "'" + chromium + "' " + chromium_flags(dir) + " --screenshot=" + png + " '" + url + "'", dir);
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  const std::string bytes = rt::slurp(png);
  ASSERT_GT(bytes.size(), 8U);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  EXPECT_GT(bytes.size(), 20'000U) << "a blank page compresses to a few kB";
}

}  // namespace

// One quick run (the report takes seconds to minutes on a loaded machine), two checks.
TEST(BenchReport, QuickRunJsonHasEverySectionAndHtmlRendersInChromium) {
  rt::ScratchDir dir;
  const nlohmann::json j = run_quick_report(dir);
  {
    SCOPED_TRACE("report JSON");
    check_report_json(j);
  }
  {
    SCOPED_TRACE("report HTML in headless Chromium");
    check_report_html(j, dir);
  }
}
