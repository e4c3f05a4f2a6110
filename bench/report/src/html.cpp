#include "ringpool/report/html.hpp"

#include <fmt/format.h>

#include <fstream>

#include "ringpool/report/errors.hpp"
#include "ringpool/report/format.hpp"
#include "ringpool/report/svg.hpp"

namespace ringpool::report {
namespace {

constexpr const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;font-size:13px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.good{color:#0a6b2f;font-weight:600}td.bad{color:#a11;font-weight:600}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px;font-size:13px;margin:8px 0}
.charts{display:flex;flex-wrap:wrap;gap:16px}
code{background:#f5f5f5;padding:1px 4px;border-radius:3px}
)";

std::string esc(const std::string& s) {
  return xml_escape(s);
}

// A numeric cell showing `shown` with the raw value in data-value.
std::string num_cell(double raw, const std::string& shown, const char* cls = "num") {
  return fmt::format("<td class=\"{}\" data-value=\"{}\">{}</td>", cls, raw, esc(shown));
}

std::string opt_ns_cell(const std::optional<double>& v) {
  return v ? num_cell(*v, format_ns(*v)) : std::string("<td class=\"num\">—</td>");
}

void machine_section(std::string& out, const Report& r) {
  const auto& m = r.machine;
  out += "<table class=\"machine\">\n";
  auto row = [&](const char* k, const std::string& v) {
    out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", k, esc(v));
  };
  row("CPU", m.cpu_model + (m.hypervisor.empty() ? "" : " (" + m.hypervisor + " guest)"));
  row("Online CPUs", std::to_string(m.online_cpus));
  row("Kernel", m.kernel);
  row("Host", m.hostname);
  row("Compiler", m.compiler + ", " + m.build_type);
  row("ringpool", m.ringpool_version);
  row("Date (UTC)", m.date_utc);
  row("Command", r.command);
  row("Rounds", std::to_string(r.rounds) + (r.quick ? " (--quick: indicative only)" : ""));
  row("Elapsed", fmt::format("{:.1f} s", r.elapsed_s));
  out += "</table>\n";
}

void topology_section(std::string& out, const TopologySummary& t) {
  out += "<h2 id=\"topology\">Usable topology and plans</h2>\n<table class=\"topology\">\n";
  out += fmt::format(
      "<tr><th>Usable CPUs</th><td>{}</td></tr><tr><th>Usable cores</th><td>{}</td></tr>\n"
      "<tr><th>Packages / NUMA nodes / L3 groups / cores / PUs</th><td>{} / {} / {} / {} / "
      "{}</td></tr>\n",
      esc(t.usable_cpus), t.usable_cores, t.packages, t.numa_nodes, t.l3_groups, t.cores, t.pus);
  if (t.quota_cores) {
    out += fmt::format("<tr><th>CPU quota</th><td>{:.2f} cores</td></tr>\n", *t.quota_cores);
  }
  for (const auto& reason : t.reasons) out += "<tr><th>Why</th><td>" + esc(reason) + "</td></tr>\n";
  out +=
      "</table>\n<table class=\"plans\"><tr><th>Tasks</th><th>Mode</th><th>Workers</th>"
      "<th>Policy</th><th>Worker CPUs</th><th>Explanation</th></tr>\n";
  for (const auto& p : t.plans) {
    std::string cpus;
    for (const auto& c : p.worker_cpus) cpus += (cpus.empty() ? "" : " | ") + c;
    out += fmt::format(
        "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td></tr>\n",
        p.tasks, esc(p.mode), p.workers, esc(p.policy), esc(cpus), esc(p.explain));
  }
  out += "</table>\n";
}

void comparisons_section(std::string& out, const Report& r) {
  out +=
      "<h2 id=\"headline\">Headline: ringpool next to its peers</h2>\n"
      "<p class=\"sub\">Medians over interleaved rounds; ratio = ringpool ÷ peer from the same "
      "run; “better” turns latencies around so that &gt; 1× always means ringpool wins.</p>\n"
      "<table class=\"comparisons\"><tr><th>What</th><th>CPUs</th><th>ringpool</th>"
      "<th>Peer</th><th>Peer figure</th><th>Ratio</th><th>Better by</th></tr>\n";
  for (const auto& c : r.comparisons) {
    out += fmt::format("<tr><td>{}</td><td>{}</td>", esc(c.what), esc(c.ours.cpus));
    out += num_cell(c.ours.value, format_value(c.ours.value, c.ours.unit));
    out += "<td>" + esc(c.peer.system) + "</td>";
    out += num_cell(c.peer.value, format_value(c.peer.value, c.peer.unit));
    out += num_cell(c.ratio, format_ratio(c.ratio));
    out += num_cell(c.speedup, format_ratio(c.speedup), c.speedup >= 1.0 ? "num good" : "num bad");
    out += "</tr>\n";
  }
  out += "</table>\n";
}

void rings_section(std::string& out, const RingSection& s, const Report& r) {
  out += fmt::format(
      "<h2 id=\"rings\">Rings and peers, CPU {} → CPU {}</h2>\n<p class=\"sub\">Core pair ({}): "
      "{}. "
      "{} rounds. The cache-line ping-pong's throughput is one-way hand-offs per second.</p>\n",
      s.pair.a, s.pair.b, esc(s.pair.relation), esc(s.pair.why), s.rounds);
  out +=
      "<table class=\"rings\"><tr><th>Transport</th><th>Item bytes</th><th>Batch</th>"
      "<th>Throughput</th><th>Round trip p50</th><th>Round trip p99</th></tr>\n";
  for (const auto& row : s.rows) {
    out += fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
                       esc(row.transport), row.item_bytes, row.batch);
    out += row.items_per_s > 0.0
               ? num_cell(row.items_per_s, format_rate(row.items_per_s, "items/s"))
               : std::string("<td class=\"num\">—</td>");
    out += opt_ns_cell(row.rtt_ns_p50) + opt_ns_cell(row.rtt_ns_p99) + "</tr>\n";
  }
  out += "</table>\n";

  // Latency percentiles per transport: one group per transport that has a round trip.
  BarChart chart;
  chart.title = "Round-trip latency per transport (log scale)";
  chart.x_label = "round trip, ping → pong, CPU " + std::to_string(s.pair.a) + " ↔ CPU " +
                  std::to_string(s.pair.b);
  chart.series_names = {"p50", "p99"};
  for (const auto& row : s.rows) {
    if (!row.rtt_ns_p50) continue;
    bool seen = false;
    for (const auto& g : chart.groups) seen = seen || g.label == row.transport;
    if (seen) continue;
    chart.groups.push_back({row.transport, {*row.rtt_ns_p50, row.rtt_ns_p99.value_or(0.0)}});
  }
  if (r.pool) {
    // The pool's submit→get round trips belong on the same axis.
    for (const auto& row : r.pool->rows) {
      if (row.unit == "ns" && row.name.find("p50") != std::string::npos) {
        std::string base = row.name.substr(0, row.name.find("p50"));
        double p99 = 0.0;
        for (const auto& other : r.pool->rows) {
          if (other.system == row.system && other.unit == "ns" && other.name == base + "p99") {
            p99 = other.value;
          }
        }
        chart.groups.push_back({row.system + " " + base, {row.value, p99}});
      }
    }
  }
  if (!chart.groups.empty()) out += "<div class=\"chart\">" + bar_chart_svg(chart) + "</div>\n";
}

void mpmc_section(std::string& out, const MpmcSection& s) {
  out += fmt::format(
      "<h2 id=\"mpmc\">MPMC throughput by producers and consumers</h2>\n<p class=\"sub\">{}-byte "
      "items, one process per core, {} rounds. Per core = items/s ÷ (P + C).</p>\n",
      s.item_bytes, s.rounds);
  out +=
      "<table class=\"mpmc\"><tr><th>P</th><th>C</th><th>CPUs</th><th>ringpool-mpmc</th>"
      "<th>per core</th><th>boost-queue</th><th>per core</th><th>Ratio</th></tr>\n";
  LineChart chart;
  chart.title = "MPMC throughput per core against core count";
  chart.x_label = "cores used (producers + consumers)";
  chart.y_label = "items/s per core";
  chart.y_unit = "items/s";
  Series ours{"ringpool-mpmc", {}};
  Series peer{"boost-queue", {}};
  for (const auto& row : s.rows) {
    out += fmt::format("<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>",
                       row.producers, row.consumers, esc(row.cpus));
    out += num_cell(row.ringpool_items_per_s, format_rate(row.ringpool_items_per_s, "items/s"));
    out += num_cell(row.ringpool_per_core(), format_rate(row.ringpool_per_core(), "items/s"));
    out += num_cell(row.boost_items_per_s, format_rate(row.boost_items_per_s, "items/s"));
    out += num_cell(row.boost_per_core(), format_rate(row.boost_per_core(), "items/s"));
    const double ratio =
        row.boost_items_per_s > 0.0 ? row.ringpool_items_per_s / row.boost_items_per_s : 0.0;
    out += num_cell(ratio, format_ratio(ratio)) + "</tr>\n";
    // Best split per core count, so the line has one point per x.
    auto add = [](Series& series, double x, double y) {
      for (auto& p : series.points) {
        if (p.x == x) {
          p.y = std::max(p.y, y);
          return;
        }
      }
      series.points.push_back({x, y});
    };
    add(ours, row.cores(), row.ringpool_per_core());
    add(peer, row.cores(), row.boost_per_core());
  }
  out += "</table>\n";
  chart.series = {ours, peer};
  out += "<div class=\"chart\">" + line_chart_svg(chart) + "</div>\n";
  if (s.rows.size() == 1) {
    out +=
        "<p class=\"note\">This machine has room for one producer and one consumer only, so "
        "the chart has a single point per system.</p>\n";
  }
}

void pool_section(std::string& out, const PoolSection& s) {
  out += fmt::format("<h2 id=\"pool\">Pool dispatch</h2>\n<p class=\"sub\">{} rounds.</p>\n",
                     s.rounds);
  out += "<table class=\"pool\"><tr><th>System</th><th>Case</th><th>Value</th></tr>\n";
  for (const auto& row : s.rows) {
    out += fmt::format("<tr><td>{}</td><td>{}</td>", esc(row.system), esc(row.name));
    out += num_cell(row.value, format_value(row.value, row.unit)) + "</tr>\n";
  }
  out += "</table>\n";
}

void c2c_section(std::string& out, const C2cMatrix& m) {
  out += "<h2 id=\"c2c\">Core-to-core latency</h2>\n";
  const C2cPair* fast = m.fastest();
  const C2cPair* slow = m.slowest();
  if (fast && slow) {
    out += fmt::format(
        "<p>Fastest pair: CPU {} ↔ CPU {} ({}), {} one way. Slowest pair: CPU {} ↔ CPU {} ({}), "
        "{} one way.</p>\n",
        fast->a, fast->b, esc(fast->relation), esc(format_ns(fast->one_way_ns_p50)), slow->a,
        slow->b, esc(slow->relation), esc(format_ns(slow->one_way_ns_p50)));
  }
  out += "<div class=\"chart\">" + c2c_heatmap_svg(m) + "</div>\n";
  out +=
      "<table class=\"c2c\"><tr><th>CPUs</th><th>Relation</th><th>One way p50</th>"
      "<th>One way p99</th><th>Per-round medians (min–max)</th></tr>\n";
  for (const auto& p : m.pairs) {
    out += fmt::format("<tr><td>{} ↔ {}</td><td>{}</td>", p.a, p.b, esc(p.relation));
    out += num_cell(p.one_way_ns_p50, format_ns(p.one_way_ns_p50));
    out += num_cell(p.one_way_ns_p99, format_ns(p.one_way_ns_p99));
    out += fmt::format("<td class=\"num\">{} – {}</td></tr>\n", esc(format_ns(p.round_min_ns)),
                       esc(format_ns(p.round_max_ns)));
  }
  out += "</table>\n";
}

}  // namespace

std::string render_html(const Report& r) {
  std::string out;
  out.reserve(64 * 1024);
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>ringpool bench report</title>\n<style>";
  out += kCss;
  out += "</style></head><body>\n<h1>ringpool bench report</h1>\n";
  out += fmt::format("<p class=\"sub\">{} · {} · {}</p>\n", esc(r.machine.cpu_model),
                     esc(r.machine.date_utc), esc(r.machine.ringpool_version));
  machine_section(out, r);
  for (const auto& o : r.omitted) {
    out +=
        "<p class=\"note\"><b>" + esc(o.section) + "</b> not measured: " + esc(o.reason) + "</p>\n";
  }
  if (r.topology) topology_section(out, *r.topology);
  if (!r.comparisons.empty()) comparisons_section(out, r);
  if (r.rings) rings_section(out, *r.rings, r);
  if (r.mpmc) mpmc_section(out, *r.mpmc);
  if (r.pool) pool_section(out, *r.pool);
  if (r.c2c) c2c_section(out, *r.c2c);
  out +=
      "<p class=\"sub\">Generated by <code>ringpool bench</code>. Figures are medians over "
      "interleaved rounds on the machine above; a virtual machine's vCPUs move between "
      "physical cores, so compare ratios from the same run rather than absolute numbers "
      "across runs.</p>\n</body></html>\n";
  return out;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) {
    throw ReportError(ReportErrc::io, "cannot write '" + path +
                                          "': check that the directory exists and is writable");
  }
}

}  // namespace ringpool::report
