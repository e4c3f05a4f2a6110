#pragma once
// Human formatting shared by the text and HTML writers.
#include <string>
#include <string_view>

namespace ringpool::report {

// 3 significant digits with an SI prefix: 62300000 "items/s" -> "62.3 M items/s".
[[nodiscard]] std::string format_rate(double per_second, std::string_view unit);
// A duration in nanoseconds with the best unit: 130 -> "130 ns", 16700 -> "16.7 µs".
[[nodiscard]] std::string format_ns(double ns);
// A ratio: 1.53 -> "1.53×", 312.4 -> "312×".
[[nodiscard]] std::string format_ratio(double ratio);
// A figure in its unit: "ns" goes through format_ns, "…/s" through format_rate, else 3 digits.
[[nodiscard]] std::string format_value(double value, std::string_view unit);
// Escapes &, <, >, " and ' for HTML/SVG text and attributes.
[[nodiscard]] std::string xml_escape(std::string_view text);

}  // namespace ringpool::report
