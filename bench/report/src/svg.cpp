#include "ringpool/report/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "ringpool/report/format.hpp"

namespace ringpool::report {
namespace {

// Colour-blind-safe palette (Okabe-Ito).
constexpr const char* kColors[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                   "#56B4E9", "#D55E00", "#F0E442", "#000000"};
constexpr std::size_t kColorCount = sizeof(kColors) / sizeof(kColors[0]);

const char* color(std::size_t i) {
  return kColors[i % kColorCount];
}

// A "nice" step (1, 2 or 5 × 10^k) giving about `ticks` ticks up to `max`.
double nice_step(double max, int ticks) {
  if (max <= 0.0) return 1.0;
  const double raw = max / ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = norm <= 1.0 ? 1.0 : norm <= 2.0 ? 2.0 : norm <= 5.0 ? 5.0 : 10.0;
  return step * mag;
}

std::string svg_open(int width, int height, const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"system-ui, sans-serif\" font-size=\"12\" "
      "role=\"img\" aria-label=\"{2}\">\n<title>{2}</title>\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n"
      "<text x=\"{3}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" "
      "font-weight=\"bold\">{2}</text>\n",
      width, height, xml_escape(title), width / 2);
}

// The width of `text` at `font_px`, estimated generously (0.62 em per character, wider
// than the average glyph of common sans-serif fonts) so that labels fit whatever font the
// viewer has.
double text_px(std::string_view text, double font_px) {
  return static_cast<double>(display_width(text)) * font_px * 0.62;
}

// A label in at most two lines, split at the space nearest the middle when it is longer
// than `max_chars`.
std::vector<std::string> wrap_label(const std::string& label, std::size_t max_chars) {
  if (display_width(label) <= max_chars) return {label};
  const std::size_t middle = label.size() / 2;
  std::size_t best = std::string::npos;
  for (std::size_t i = label.find(' '); i != std::string::npos; i = label.find(' ', i + 1)) {
    if (best == std::string::npos ||
        (i > middle ? i - middle : middle - i) < (best > middle ? best - middle : middle - best)) {
      best = i;
    }
  }
  if (best == std::string::npos) return {label};
  return {label.substr(0, best), label.substr(best + 1)};
}

// Diverging from fast (teal) to slow (red) through yellow; t in [0, 1].
std::string heat_color(double t) {
  t = std::clamp(t, 0.0, 1.0);
  struct Rgb {
    double r, g, b;
  };
  constexpr Rgb kStops[] = {{26, 152, 80}, {254, 224, 139}, {215, 48, 39}};
  const double pos = t * 2.0;
  const int i = std::min(1, static_cast<int>(pos));
  const double f = pos - i;
  const Rgb a = kStops[i];
  const Rgb b = kStops[i + 1];
  return fmt::format("rgb({},{},{})", std::lround(a.r + (b.r - a.r) * f),
                     std::lround(a.g + (b.g - a.g) * f), std::lround(a.b + (b.b - a.b) * f));
}

}  // namespace

std::string line_chart_svg(const LineChart& chart) {
  constexpr int kLeft = 90;
  constexpr int kTop = 36;
  constexpr int kBottom = 50;
  constexpr int kPlotW = 400;
  constexpr int kPlotH = 274;
  // The legend on the right is as wide as its longest name.
  double legend_w = 60.0;
  for (const auto& s : chart.series) legend_w = std::max(legend_w, text_px(s.name, 12.0));
  const int right = 44 + static_cast<int>(std::ceil(legend_w));
  const int width = std::max(kLeft + kPlotW + right,
                             static_cast<int>(std::ceil(text_px(chart.title, 14.0))) + 40);
  const int height = kTop + kPlotH + kBottom;

  double max_x = 1.0;
  double max_y = 0.0;
  for (const auto& s : chart.series) {
    for (const auto& p : s.points) {
      max_x = std::max(max_x, p.x);
      max_y = std::max(max_y, p.y);
    }
  }
  const double x_end = std::ceil(max_x) + 1.0;  // integer x axis with room on the right
  const double y_step = nice_step(max_y * 1.1, 5);
  const double y_end = std::max(y_step, std::ceil(max_y * 1.1 / y_step) * y_step);
  auto px = [&](double x) { return kLeft + x / x_end * kPlotW; };
  auto py = [&](double y) { return kTop + kPlotH - y / y_end * kPlotH; };

  std::string out = svg_open(width, height, chart.title);
  // Grid and y ticks.
  for (double y = 0.0; y <= y_end * 1.0001; y += y_step) {
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#e0e0e0\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        kLeft, py(y), kLeft + kPlotW, kLeft - 6, py(y) + 4, xml_escape(format_rate(y, "")));
  }
  // x ticks at integers.
  const int x_tick_every = std::max(1, static_cast<int>(x_end) / 16);
  for (int x = 0; x <= static_cast<int>(x_end); x += x_tick_every) {
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#333\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        px(x), kTop + kPlotH, kTop + kPlotH + 5, kTop + kPlotH + 18, x);
  }
  // Axes and labels.
  out += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333\"/>"
      "<line x1=\"{0}\" y1=\"{2}\" x2=\"{3}\" y2=\"{2}\" stroke=\"#333\"/>\n"
      "<text x=\"{4}\" y=\"{5}\" text-anchor=\"middle\">{6}</text>\n"
      "<text transform=\"translate(16 {7}) rotate(-90)\" text-anchor=\"middle\">{8}</text>\n",
      kLeft, kTop, kTop + kPlotH, kLeft + kPlotW, kLeft + kPlotW / 2, height - 10,
      xml_escape(chart.x_label), kTop + kPlotH / 2, xml_escape(chart.y_label));
  // Series: polyline, points with value labels, legend.
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    std::string pts;
    for (const auto& p : s.points) pts += fmt::format("{:.1f},{:.1f} ", px(p.x), py(p.y));
    if (s.points.size() > 1) {
      out +=
          fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n",
                      pts, color(i));
    }
    for (const auto& p : s.points) {
      const std::string label = format_value(p.y, chart.y_unit);
      out += fmt::format(
          "<circle cx=\"{0:.1f}\" cy=\"{1:.1f}\" r=\"4\" fill=\"{2}\"><title>{3}: {4} at "
          "{5}</title></circle><text x=\"{6:.1f}\" y=\"{7:.1f}\" fill=\"{2}\" "
          "font-size=\"11\">{4}</text>\n",
          px(p.x), py(p.y), color(i), xml_escape(s.name), xml_escape(label), p.x, px(p.x) + 7,
          py(p.y) - 6 + static_cast<double>(i) * 14.0);
    }
    const int ly = kTop + 10 + static_cast<int>(i) * 20;
    out += fmt::format(
        "<rect x=\"{0}\" y=\"{1}\" width=\"14\" height=\"4\" fill=\"{2}\"/>"
        "<text x=\"{3}\" y=\"{4}\">{5}</text>\n",
        kLeft + kPlotW + 14, ly - 2, color(i), kLeft + kPlotW + 34, ly + 3, xml_escape(s.name));
  }
  out += "</svg>\n";
  return out;
}

std::string bar_chart_svg(const BarChart& chart) {
  constexpr int kTop = 56;
  constexpr int kBar = 14;
  constexpr int kGap = 12;
  constexpr int kLineH = 14;              // a wrapped label's line spacing
  constexpr std::size_t kWrapChars = 32;  // longer labels take two lines
  constexpr int kPlotW = 430;
  const int n_series = static_cast<int>(std::max<std::size_t>(1, chart.series_names.size()));
  const int group_h = std::max(n_series * kBar, 2 * kLineH) + kGap;
  const int plot_h = std::max(1, static_cast<int>(chart.groups.size())) * group_h;
  const int height = kTop + plot_h + 44;
  // Margins from the text they hold: group labels on the left, value labels on the right.
  double label_w = 40.0;
  double value_w = 40.0;
  for (const auto& g : chart.groups) {
    for (const auto& line : wrap_label(g.label, kWrapChars)) {
      label_w = std::max(label_w, text_px(line, 12.0));
    }
    for (double v : g.values) {
      if (v > 0.0) value_w = std::max(value_w, text_px(format_ns(v), 11.0));
    }
  }
  const int left = 16 + static_cast<int>(std::ceil(label_w));
  const int right = 16 + static_cast<int>(std::ceil(value_w));
  const int width =
      std::max(left + kPlotW + right, static_cast<int>(std::ceil(text_px(chart.title, 14.0))) + 40);

  double lo = 1e300;
  double hi = 0.0;
  for (const auto& g : chart.groups) {
    for (double v : g.values) {
      if (v > 0.0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  if (hi <= 0.0) {
    lo = 1.0;
    hi = 10.0;
  }
  const double d0 = std::floor(std::log10(lo));
  const double d1 = std::max(d0 + 1.0, std::ceil(std::log10(hi)));
  auto px = [&](double v) { return left + (std::log10(v) - d0) / (d1 - d0) * kPlotW; };

  std::string out = svg_open(width, height, chart.title);
  // Legend under the title.
  for (int i = 0; i < static_cast<int>(chart.series_names.size()); ++i) {
    out += fmt::format(
        "<rect x=\"{0}\" y=\"30\" width=\"12\" height=\"12\" fill=\"{1}\"/>"
        "<text x=\"{2}\" y=\"40\">{3}</text>\n",
        left + i * 90, color(static_cast<std::size_t>(i)), left + i * 90 + 16,
        xml_escape(chart.series_names[static_cast<std::size_t>(i)]));
  }
  // Decade grid lines.
  for (double d = d0; d <= d1 + 1e-9; d += 1.0) {
    const double x = left + (d - d0) / (d1 - d0) * kPlotW;
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#e0e0e0\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        x, kTop - 4, kTop + plot_h, kTop + plot_h + 16, xml_escape(format_ns(std::pow(10.0, d))));
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                     left + kPlotW / 2, height - 8, xml_escape(chart.x_label));
  for (std::size_t gi = 0; gi < chart.groups.size(); ++gi) {
    const auto& g = chart.groups[gi];
    const int gy = kTop + static_cast<int>(gi) * group_h;
    const auto lines = wrap_label(g.label, kWrapChars);
    const int middle = gy + n_series * kBar / 2 + 4;
    for (std::size_t li = 0; li < lines.size(); ++li) {
      const int y = middle + static_cast<int>(li) * kLineH -
                    (static_cast<int>(lines.size()) - 1) * kLineH / 2;
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 8, y,
                         xml_escape(lines[li]));
    }
    for (std::size_t si = 0; si < g.values.size(); ++si) {
      const double v = g.values[si];
      if (v <= 0.0) continue;
      const int y = gy + static_cast<int>(si) * kBar;
      const double x_end = px(v);
      out += fmt::format(
          "<rect x=\"{0}\" y=\"{1}\" width=\"{2:.1f}\" height=\"{3}\" fill=\"{4}\">"
          "<title>{5} {6}: {7}</title></rect>"
          "<text x=\"{8:.1f}\" y=\"{9}\" font-size=\"11\">{7}</text>\n",
          left, y, std::max(1.0, x_end - left), kBar - 2, color(si), xml_escape(g.label),
          si < chart.series_names.size() ? xml_escape(chart.series_names[si]) : "",
          xml_escape(format_ns(v)), x_end + 4, y + kBar - 4);
    }
  }
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333\"/>\n", left,
                     kTop - 4, kTop + plot_h);
  out += "</svg>\n";
  return out;
}

std::string c2c_heatmap_svg(const C2cMatrix& m) {
  const int n = static_cast<int>(m.cpus.size());
  const int cell = n <= 8 ? 64 : n <= 16 ? 40 : n <= 32 ? 22 : std::max(6, 704 / std::max(n, 1));
  const bool labels = cell >= 36;
  constexpr int kLeft = 60;
  constexpr int kTop = 64;
  const int grid = n * cell;
  const std::string subtitle = fmt::format(
      "cache line bounced between two pinned processes; median over {} rounds", m.rounds);
  const int width = std::max(
      {420, kLeft + grid + 120, static_cast<int>(std::ceil(text_px(subtitle, 11.0))) + 24});
  const int height = kTop + grid + 40;

  double lo = 1e300;
  double hi = 0.0;
  for (const auto& p : m.pairs) {
    lo = std::min(lo, p.one_way_ns_p50);
    hi = std::max(hi, p.one_way_ns_p50);
  }
  if (m.pairs.empty()) lo = hi = 0.0;
  auto t_of = [&](double v) { return hi > lo ? (v - lo) / (hi - lo) : 0.0; };

  std::string out = svg_open(width, height, "Core-to-core one-way latency (p50)");
  out += fmt::format(
      "<text x=\"{}\" y=\"40\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555\">{}</text>\n",
      width / 2, xml_escape(subtitle));
  for (int i = 0; i < n; ++i) {
    const unsigned cpu = m.cpus[static_cast<std::size_t>(i)];
    const bool tick = n <= 32 || i % (n / 16 + 1) == 0;
    if (tick) {
      out += fmt::format(
          "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{}</text>"
          "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>\n",
          kLeft + i * cell + cell / 2, kTop - 6, cpu, kLeft - 6, kTop + i * cell + cell / 2 + 4,
          cpu);
    }
    for (int j = 0; j < n; ++j) {
      const unsigned other = m.cpus[static_cast<std::size_t>(j)];
      const int x = kLeft + j * cell;
      const int y = kTop + i * cell;
      const C2cPair* p = m.find(cpu, other);
      if (!p) {
        out += fmt::format(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f0f0f0\" "
            "stroke=\"#fff\"/>\n",
            x, y, cell, cell);
        continue;
      }
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#fff\">"
          "<title>CPU {} ↔ CPU {} ({}): p50 {}, p99 {}, rounds {}–{}</title></rect>\n",
          x, y, cell, cell, heat_color(t_of(p->one_way_ns_p50)), cpu, other,
          xml_escape(p->relation), xml_escape(format_ns(p->one_way_ns_p50)),
          xml_escape(format_ns(p->one_way_ns_p99)), xml_escape(format_ns(p->round_min_ns)),
          xml_escape(format_ns(p->round_max_ns)));
      if (labels) {
        out += fmt::format(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{:.0f}</text>\n",
            x + cell / 2, y + cell / 2 + 4, p->one_way_ns_p50);
      }
    }
  }
  // Colour scale.
  const int sx = kLeft + grid + 30;
  for (int k = 0; k < 10; ++k) {
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"{}\" fill=\"{}\"/>\n", sx,
                       kTop + k * std::max(grid, 100) / 10, std::max(grid, 100) / 10 + 1,
                       heat_color(k / 9.0));
  }
  out += fmt::format(
      "<text x=\"{0}\" y=\"{1}\" font-size=\"11\">{2}</text>"
      "<text x=\"{0}\" y=\"{3}\" font-size=\"11\">{4}</text>"
      "<text x=\"{5}\" y=\"{6}\" text-anchor=\"middle\" font-size=\"11\">one-way ns</text>\n",
      sx + 20, kTop + 10, xml_escape(format_ns(lo)), kTop + std::max(grid, 100),
      xml_escape(format_ns(hi)), sx + 8, kTop + std::max(grid, 100) + 18);
  out += "</svg>\n";
  return out;
}

}  // namespace ringpool::report
