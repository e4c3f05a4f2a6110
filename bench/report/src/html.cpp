#include "ringpool/report/html.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "ringpool/report/errors.hpp"
#include "ringpool/report/format.hpp"
#include "ringpool/report/payload_section.hpp"
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
.spread{display:block;color:#777;font-size:11px;font-weight:normal}
tr.unstable td{background:#fff8e1}
.flag{color:#8a5a00;font-weight:600;white-space:nowrap}
td.missing{color:#777;font-style:italic}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px;font-size:13px;margin:8px 0}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart svg{max-width:100%;height:auto}
code{background:#f5f5f5;padding:1px 4px;border-radius:3px}
)";

std::string esc(const std::string& s) {
  return xml_escape(s);
}

// A numeric cell showing `shown` with the raw value in data-value and, when the figure has
// per-round values, its p25-p75 range under it (raw in data-p25 / data-p75).
std::string num_cell(double raw, const std::string& shown, const Spread& spread = {},
                     const std::string& spread_unit = {}, const char* cls = "num") {
  if (spread.empty()) {
    return fmt::format("<td class=\"{}\" data-value=\"{}\">{}</td>", cls, raw, esc(shown));
  }
  return fmt::format(
      "<td class=\"{}\" data-value=\"{}\" data-p25=\"{}\" data-p75=\"{}\">{}<span "
      "class=\"spread\">{}</span></td>",
      cls, raw, spread.p25, spread.p75, esc(shown), esc(format_spread(spread, spread_unit)));
}

std::string opt_ns_cell(const std::optional<double>& v, const Spread& spread = {}) {
  return v ? num_cell(*v, format_ns(*v), spread, "ns") : std::string("<td class=\"num\">—</td>");
}

// The last cell of a row: says when the row's rounds disagree too much.
std::string flag_cell(bool unstable, double relative) {
  if (!unstable) return "<td></td>";
  return fmt::format(
      "<td class=\"flag\" title=\"p25–p75 over the rounds spans {} of the median\">unstable "
      "({})</td>",
      format_percent(relative), format_percent(relative));
}

std::string row_open(bool unstable) {
  return unstable ? "<tr class=\"unstable\">" : "<tr>";
}

void machine_section(std::string& out, const Report& r) {
  const auto& m = r.machine;
  out += "<table class=\"machine\">\n";
  auto row = [&](const char* k, const std::string& v) {
    out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", k, esc(v));
  };
  row("CPU model", m.cpu_model.empty() ? std::string("unknown") : m.cpu_model);
  row("CPU vendor", m.cpu_vendor.empty() ? std::string("unknown") : m.cpu_vendor);
  if (!m.cpu_family_model.empty()) row("CPU family / model", m.cpu_family_model);
  if (!m.cpu_brand.empty() && m.cpu_brand != m.cpu_model) row("CPUID brand string", m.cpu_brand);
  row("Hypervisor", m.hypervisor.empty() ? std::string("none seen (bare metal?)")
                                         : m.hypervisor + " (from " + m.hypervisor_source + ")");
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
  out += fmt::format(
      "<h2 id=\"headline\">Headline: ringpool next to its peers</h2>\n"
      "<p class=\"sub\">Medians over {} interleaved rounds, with the p25–p75 range of the "
      "per-round values under each. “ringpool is” compares the two figures of the same rounds "
      "(its range comes from the per-round ratios), faster or slower whether lower or higher "
      "is better. A row is <span class=\"flag\">unstable</span> when the per-round ratios "
      "spread over more than {} of their median.</p>\n"
      "<table class=\"comparisons\"><tr><th>What</th><th>CPUs</th><th>ringpool</th>"
      "<th>Peer</th><th>Peer figure</th><th>ringpool is</th><th></th></tr>\n",
      r.rounds, format_percent(kUnstableSpread));
  for (const auto& c : r.comparisons) {
    out += row_open(c.unstable());
    out += fmt::format("<td>{}</td><td>{}</td>", esc(c.what), esc(c.ours.cpus));
    out +=
        num_cell(c.ours.value, format_value(c.ours.value, c.ours.unit), c.ours.spread, c.ours.unit);
    out += "<td>" + esc(display_name(c.peer.system)) + "</td>";
    out +=
        num_cell(c.peer.value, format_value(c.peer.value, c.peer.unit), c.peer.spread, c.peer.unit);
    // The raw quotient ours / peer in data-value (as "ratio" in the JSON), the words shown.
    const std::string range = verdict_spread(c);
    out += fmt::format(
        "<td class=\"num {}\" data-value=\"{}\" data-speedup=\"{}\">{}{}</td>",
        c.speedup >= 1.0 ? "good" : "bad", c.ratio, c.speedup, esc(verdict(c)),
        range.empty() ? std::string() : "<span class=\"spread\">" + esc(range) + "</span>");
    out += flag_cell(c.unstable(), c.ratio_spread.relative(c.ratio)) + "</tr>\n";
  }
  out += "</table>\n";
}

void targets_section(std::string& out, const Report& r) {
  out +=
      "<h2 id=\"targets\">Targets</h2>\n<p class=\"sub\">A target is met only when the median "
      "and the whole p25–p75 range of the per-round ratios (of the per-round values for an "
      "absolute target) meet it.</p>\n"
      "<table class=\"targets\"><tr><th>Target</th><th>Measured</th><th>Status</th></tr>\n";
  for (const auto& t : r.targets) {
    out += "<tr><td>" + esc(t.name) + "</td>";
    out += t.value ? num_cell(*t.value, format_value(*t.value, t.unit), t.spread, t.unit)
                   : std::string("<td class=\"num\">—</td>");
    const char* status = "not measured";
    const char* cls = "";
    switch (t.status) {
      case Target::Status::met:
        status = "met";
        cls = "good";
        break;
      case Target::Status::spread_crosses:
        status = "not met: the p25–p75 range crosses the target";
        cls = "bad";
        break;
      case Target::Status::missed:
        status = "missed";
        cls = "bad";
        break;
      case Target::Status::not_measured:
        break;
    }
    out += fmt::format("<td class=\"{}\" data-status=\"{}\">{}</td></tr>\n", cls,
                       to_string(t.status), status);
  }
  out += "</table>\n";
}

// A chart label for a pool round-trip case: "ringpool: submit().get() round trip, spin mode".
std::string pool_chart_label(const PoolRow& row) {
  std::string label = row.label;
  if (const auto p50 = label.find(" p50"); p50 != std::string::npos) label.erase(p50, 4);
  return display_name(row.system) + ": " + label;
}

void rings_section(std::string& out, const RingSection& s, const Report& r) {
  out += fmt::format(
      "<h2 id=\"rings\">Rings and peers, CPU {} → CPU {}</h2>\n<p class=\"sub\">Core pair ({}): "
      "{}. Medians over {} rounds, p25–p75 under each. The cache-line ping-pong's throughput "
      "is one-way hand-offs per second.</p>\n",
      s.pair.a, s.pair.b, esc(s.pair.relation), esc(s.pair.why), s.rounds);
  out +=
      "<table class=\"rings\"><tr><th>Transport</th><th>Item bytes</th><th>Batch</th>"
      "<th>Throughput</th><th>Round trip p50</th><th>Round trip p99</th><th></th></tr>\n";
  for (const auto& row : s.rows) {
    out += row_open(row.unstable());
    out += fmt::format(
        "<td data-transport=\"{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        esc(row.transport), esc(display_name(row.transport)), row.item_bytes, row.batch);
    out += row.items_per_s > 0.0
               ? num_cell(row.items_per_s, format_rate(row.items_per_s, "items/s"),
                          row.items_per_s_spread, "items/s")
               : std::string("<td class=\"num\">—</td>");
    out += opt_ns_cell(row.rtt_ns_p50, row.rtt_ns_p50_spread) + opt_ns_cell(row.rtt_ns_p99);
    const double rel =
        std::max(row.items_per_s_spread.relative(row.items_per_s),
                 row.rtt_ns_p50 ? row.rtt_ns_p50_spread.relative(*row.rtt_ns_p50) : 0.0);
    out += flag_cell(row.unstable(), rel) + "</tr>\n";
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
    const std::string label = display_name(row.transport);
    bool seen = false;
    for (const auto& g : chart.groups) seen = seen || g.label == label;
    if (seen) continue;
    chart.groups.push_back({label, {*row.rtt_ns_p50, row.rtt_ns_p99.value_or(0.0)}});
  }
  if (r.pool) {
    // The pool's submit→get round trips belong on the same axis.
    for (const auto& row : r.pool->rows) {
      const auto p50 = row.name.rfind("_p50");
      if (row.unit != "ns" || p50 == std::string::npos || p50 + 4 != row.name.size()) continue;
      const std::string p99_name = row.name.substr(0, p50) + "_p99";
      double p99 = 0.0;
      for (const auto& other : r.pool->rows) {
        if (other.system == row.system && other.name == p99_name) p99 = other.value;
      }
      chart.groups.push_back({pool_chart_label(row), {row.value, p99}});
    }
  }
  if (!chart.groups.empty()) out += "<div class=\"chart\">" + bar_chart_svg(chart) + "</div>\n";
}

void mpmc_section(std::string& out, const MpmcSection& s) {
  out += fmt::format(
      "<h2 id=\"mpmc\">MPMC throughput by producers and consumers</h2>\n<p class=\"sub\">{}-byte "
      "items, one process per core, medians over {} rounds with p25–p75 under each. Per core = "
      "items/s ÷ (P + C).</p>\n",
      s.item_bytes, s.rounds);
  out +=
      "<table class=\"mpmc\"><tr><th>P</th><th>C</th><th>CPUs</th><th>ringpool MPMC ring</th>"
      "<th>per core</th><th>Boost.Lockfree queue</th><th>per core</th><th>Ratio</th><th></th>"
      "</tr>\n";
  LineChart chart;
  chart.title = "MPMC throughput per core against core count";
  chart.x_label = "cores used (producers + consumers)";
  chart.y_label = "items/s per core";
  chart.y_unit = "items/s";
  Series ours{display_name("ringpool-mpmc"), {}};
  Series peer{display_name("boost-queue"), {}};
  for (const auto& row : s.rows) {
    out += row_open(row.unstable());
    out += fmt::format("<td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>",
                       row.producers, row.consumers, esc(row.cpus));
    out += num_cell(row.ringpool_items_per_s, format_rate(row.ringpool_items_per_s, "items/s"),
                    row.ringpool_spread, "items/s");
    out += num_cell(row.ringpool_per_core(), format_rate(row.ringpool_per_core(), "items/s"));
    out += num_cell(row.boost_items_per_s, format_rate(row.boost_items_per_s, "items/s"),
                    row.boost_spread, "items/s");
    out += num_cell(row.boost_per_core(), format_rate(row.boost_per_core(), "items/s"));
    const double ratio =
        row.boost_items_per_s > 0.0 ? row.ringpool_items_per_s / row.boost_items_per_s : 0.0;
    out += num_cell(ratio, format_ratio(ratio));
    out +=
        flag_cell(row.unstable(), std::max(row.ringpool_spread.relative(row.ringpool_items_per_s),
                                           row.boost_spread.relative(row.boost_items_per_s))) +
        "</tr>\n";
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
  out += fmt::format(
      "<h2 id=\"pool\">Pool dispatch</h2>\n<p class=\"sub\">Medians over {} rounds, p25–p75 "
      "under each.</p>\n",
      s.rounds);
  out += "<table class=\"pool\"><tr><th>System</th><th>Case</th><th>Value</th><th></th></tr>\n";
  for (const auto& row : s.rows) {
    out += row_open(row.unstable());
    out += fmt::format("<td>{}</td><td data-case=\"{}\">{}</td>", esc(display_name(row.system)),
                       esc(row.name), esc(row.label));
    out += num_cell(row.value, format_value(row.value, row.unit), row.spread, row.unit);
    out += flag_cell(row.unstable(), row.spread.relative(row.value)) + "</tr>\n";
  }
  out += "</table>\n";
}

// A payload figure's cell: the value with its p25-p75, or why it is missing (the error in a
// title and in the notes under the table).
std::string payload_cell(const PayloadRow* row, std::vector<std::string>& notes) {
  if (row == nullptr) return "<td class=\"num\">—</td>";
  if (!row->value) {
    notes.push_back(fmt::format("{}, {} at {}: {}", display_name(row->system), row->label,
                                payload_size_label(row->bytes), row->missing));
    return fmt::format(
        "<td class=\"missing\" data-missing=\"{}\" title=\"{}\">{} <sup>[{}]</sup></td>",
        row->unsupported ? "unsupported" : "failed", esc(row->missing),
        esc(payload_missing_text(*row)), notes.size());
  }
  std::string cellv = fmt::format("<td class=\"num\" data-value=\"{}\"", *row->value);
  if (!row->spread.empty()) {
    cellv += fmt::format(" data-p25=\"{}\" data-p75=\"{}\">{}<span class=\"spread\">{}</span>",
                         row->spread.p25, row->spread.p75,
                         esc(format_payload_value(*row->value, row->unit)),
                         esc(format_payload_range(row->spread.p25, row->spread.p75, row->unit)));
  } else {
    cellv += ">" + esc(format_payload_value(*row->value, row->unit));
  }
  return cellv + (row->unstable() ? " <span class=\"flag\">unstable</span></td>" : "</td>");
}

std::string payload_ratio_cell(const Comparison* c) {
  if (c == nullptr) return "<td class=\"num\">—</td>";
  const std::string range = verdict_spread(*c);
  return fmt::format(
      "<td class=\"num {}\" data-value=\"{}\" data-speedup=\"{}\">{}{}</td>",
      c->speedup >= 1.0 ? "good" : "bad", c->ratio, c->speedup, esc(verdict(*c)),
      range.empty() ? std::string() : "<span class=\"spread\">" + esc(range) + "</span>");
}

void payload_section(std::string& out, const PayloadSection& s) {
  constexpr const char* kRp = "ringpool";
  constexpr const char* kPy = "python-multiprocessing";
  out += fmt::format(
      "<h2 id=\"payload\">Payload sizes</h2>\n<p class=\"sub\">Caller, producer and memcpy on "
      "CPU {}, the pool's worker and the stream's consumer on CPU {} (CPUs {}); pool wait mode "
      "{}. Medians over {} interleaved rounds per size ({} from 16 MiB up), p25–p75 under each; "
      "ratios from the per-round figures of the same run.</p>\n",
      esc(s.cpus.substr(0, s.cpus.find(','))), esc(s.cpus.substr(s.cpus.find(',') + 1)),
      esc(s.cpus), esc(s.wait), s.rounds, s.large_rounds);
  if (!s.python) {
    out += "<p class=\"note\">Python multiprocessing not run: " + esc(s.python_note) + "</p>\n";
  }
  std::vector<std::string> notes;
  out +=
      "<h3>Round trip</h3>\n<p class=\"sub\"><code>Pool::submit(echo, std::vector&lt;char&gt;(n))"
      ".get()</code> after warm-up round trips (a new pool's first one in its own column) "
      "against Python's <code>Pool(1).apply_async(echo, (bytes(n),)).get()</code> "
      "and two memcpy's of n bytes on one core (one each way: the floor).</p>\n"
      "<table class=\"payload-rtt\"><tr><th>Size</th><th>ringpool</th>"
      "<th>new pool's first</th>";
  if (s.python) out += "<th>Python apply_async</th>";
  out += "<th>2 × memcpy</th>";
  if (s.python) out += "<th>ringpool vs Python</th>";
  out += "<th>ringpool vs 2 × memcpy</th></tr>\n";
  for (std::size_t bytes : s.sizes) {
    out += fmt::format("<tr data-bytes=\"{}\"><td class=\"num\">{}</td>", bytes,
                       esc(payload_size_label(bytes)));
    out += payload_cell(find_payload_row(s, kRp, "submit_get_echo", bytes), notes);
    out += payload_cell(find_payload_row(s, kRp, "submit_get_echo_first", bytes), notes);
    if (s.python)
      out += payload_cell(find_payload_row(s, kPy, "apply_async_get_echo", bytes), notes);
    const PayloadRow* copy = find_payload_row(s, "memcpy", "memcpy", bytes);
    out += copy && copy->value ? num_cell(2.0 * *copy->value, format_ns(2.0 * *copy->value))
                               : payload_cell(copy, notes);
    if (s.python)
      out += payload_ratio_cell(find_payload_comparison(s, bytes, PayloadVs::python_apply_async));
    out += payload_ratio_cell(find_payload_comparison(s, bytes, PayloadVs::two_memcpy)) + "</tr>\n";
  }
  out += "</table>\n";
  out +=
      "<h3>One-way stream</h3>\n<p class=\"sub\"><code>Queue&lt;std::vector&lt;char&gt;&gt;"
      "</code> items put here and got by another process, against Python's "
      "<code>multiprocessing.Queue</code> of bytes, <code>shared_memory</code> handed over by "
      "name (the other process copies the bytes out) and one memcpy's rate.</p>\n"
      "<table class=\"payload-stream\"><tr><th>Size</th><th>ringpool Queue</th>";
  if (s.python) out += "<th>Python Queue</th><th>Python shared_memory</th>";
  out += "<th>memcpy rate</th>";
  if (s.python) out += "<th>vs Python Queue</th><th>vs shared_memory</th>";
  out += "<th>vs memcpy rate</th></tr>\n";
  for (std::size_t bytes : s.sizes) {
    out += fmt::format("<tr data-bytes=\"{}\"><td class=\"num\">{}</td>", bytes,
                       esc(payload_size_label(bytes)));
    out += payload_cell(find_payload_row(s, kRp, "queue_stream", bytes), notes);
    if (s.python) {
      out += payload_cell(find_payload_row(s, kPy, "queue_stream", bytes), notes);
      out += payload_cell(find_payload_row(s, kPy, "shared_memory_stream", bytes), notes);
    }
    const PayloadRow* copy = find_payload_row(s, "memcpy", "memcpy", bytes);
    if (copy && copy->value && *copy->value > 0.0) {
      const double rate = static_cast<double>(bytes) * 1e9 / *copy->value;
      out += num_cell(rate, format_payload_value(rate, "bytes/s"));
    } else {
      out += "<td class=\"num\">—</td>";
    }
    if (s.python) {
      out += payload_ratio_cell(find_payload_comparison(s, bytes, PayloadVs::python_queue));
      out += payload_ratio_cell(find_payload_comparison(s, bytes, PayloadVs::python_shared_memory));
    }
    out += payload_ratio_cell(find_payload_comparison(s, bytes, PayloadVs::memcpy)) + "</tr>\n";
  }
  out += "</table>\n";
  if (!notes.empty()) {
    out += "<ol class=\"payload-missing\">\n";
    for (const auto& n : notes) out += "<li>" + esc(n) + "</li>\n";
    out += "</ol>\n";
  }
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
      "<th>One way p99</th><th>Per-round medians (min–max)</th><th></th></tr>\n";
  for (const auto& p : m.pairs) {
    out += row_open(p.unstable());
    out += fmt::format("<td>{} ↔ {}</td><td>{}</td>", p.a, p.b, esc(p.relation));
    out += num_cell(p.one_way_ns_p50, format_ns(p.one_way_ns_p50), p.one_way_ns_p50_spread, "ns");
    out += num_cell(p.one_way_ns_p99, format_ns(p.one_way_ns_p99));
    out += fmt::format("<td class=\"num\">{} – {}</td>", esc(format_ns(p.round_min_ns)),
                       esc(format_ns(p.round_max_ns)));
    out += flag_cell(p.unstable(), p.one_way_ns_p50_spread.relative(p.one_way_ns_p50)) + "</tr>\n";
  }
  out += "</table>\n";
}

// How many rows of the page are flagged unstable.
std::size_t unstable_rows(const Report& r) {
  std::size_t n = 0;
  for (const auto& c : r.comparisons) n += c.unstable() ? 1 : 0;
  if (r.rings) {
    for (const auto& row : r.rings->rows) n += row.unstable() ? 1 : 0;
  }
  if (r.mpmc) {
    for (const auto& row : r.mpmc->rows) n += row.unstable() ? 1 : 0;
  }
  if (r.pool) {
    for (const auto& row : r.pool->rows) n += row.unstable() ? 1 : 0;
  }
  if (r.payload) {
    for (const auto& row : r.payload->rows) n += row.unstable() ? 1 : 0;
  }
  if (r.c2c) {
    for (const auto& p : r.c2c->pairs) n += p.unstable() ? 1 : 0;
  }
  return n;
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
  out += fmt::format("<p class=\"sub\">{} · {} · {} · {}</p>\n", esc(r.machine.cpu_model),
                     esc(r.machine.hypervisor.empty() ? std::string("no hypervisor seen")
                                                      : r.machine.hypervisor + " guest"),
                     esc(r.machine.date_utc), esc(r.machine.ringpool_version));
  machine_section(out, r);
  for (const auto& o : r.omitted) {
    out +=
        "<p class=\"note\"><b>" + esc(o.section) + "</b> not measured: " + esc(o.reason) + "</p>\n";
  }
  if (const std::size_t n = unstable_rows(r); n != 0) {
    out += fmt::format(
        "<p class=\"note unstable-note\"><b>{} row(s) unstable</b>: their rounds spread "
        "(p25–p75) over more than {} of the median, so the median alone is not to be trusted; "
        "re-run on a quieter machine or with more <code>--rounds</code>.</p>\n",
        n, format_percent(kUnstableSpread));
  }
  if (r.topology) topology_section(out, *r.topology);
  if (!r.comparisons.empty()) comparisons_section(out, r);
  if (!r.targets.empty()) targets_section(out, r);
  if (r.rings) rings_section(out, *r.rings, r);
  if (r.mpmc) mpmc_section(out, *r.mpmc);
  if (r.pool) pool_section(out, *r.pool);
  if (r.payload) payload_section(out, *r.payload);
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
