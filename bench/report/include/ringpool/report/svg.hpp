#pragma once
// Self-contained SVG charts (no scripts, no external resources) for the HTML report
// and for `ringpool c2c --svg`. Each function returns one <svg> element.
#include <string>
#include <vector>

#include "ringpool/report/model.hpp"

namespace ringpool::report {

struct Point {
  double x = 0.0;
  double y = 0.0;
};

struct Series {
  std::string name;
  std::vector<Point> points;
};

// A line chart with linear axes starting at 0; x values are treated as integers (core counts).
struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::string y_unit;  // used to format point labels, e.g. "items/s"
  std::vector<Series> series;
};
[[nodiscard]] std::string line_chart_svg(const LineChart& chart);

// Horizontal grouped bars on a log10 axis (latencies spanning ns to ms).
struct BarGroup {
  std::string label;           // e.g. the transport
  std::vector<double> values;  // one per BarChart::series_names; <= 0 = absent
};
struct BarChart {
  std::string title;
  std::string x_label;
  std::vector<std::string> series_names;  // e.g. {"p50", "p99"}
  std::vector<BarGroup> groups;
};
[[nodiscard]] std::string bar_chart_svg(const BarChart& chart);

// The core-to-core heatmap: one cell per (row CPU, column CPU), coloured by one-way
// latency (p50), value written in each cell when cells are large enough.
[[nodiscard]] std::string c2c_heatmap_svg(const C2cMatrix& matrix);

}  // namespace ringpool::report
