#pragma once
// Human formatting shared by the text and HTML writers.
#include <string>
#include <string_view>
#include <vector>

#include "ringpool/report/model.hpp"

namespace ringpool::report {

// 3 significant digits with an SI prefix: 62300000 "items/s" -> "62.3 M items/s".
[[nodiscard]] std::string format_rate(double per_second, std::string_view unit);
// A duration in nanoseconds with the best unit: 130 -> "130 ns", 16700 -> "16.7 µs".
[[nodiscard]] std::string format_ns(double ns);
// A ratio with 3 significant digits, never rounded to zero: 1.53 -> "1.53×",
// 312.4 -> "312×", 0.00115 -> "0.00115×".
[[nodiscard]] std::string format_ratio(double ratio);
// A figure in its unit: "ns" goes through format_ns, "…/s" through format_rate, else 3 digits.
[[nodiscard]] std::string format_value(double value, std::string_view unit);
// The interquartile range of a spread in the figure's unit, the unit written once:
// "210–230 M items/s", "950 k–1.02 M items/s", "170–190 ns"; unit "x" gives "3.51–4.10×".
// Empty for an empty spread.
[[nodiscard]] std::string format_spread(const Spread& spread, std::string_view unit);
// "31 %": the spread's relative width against `median`.
[[nodiscard]] std::string format_percent(double fraction);
// How ringpool fared against the peer, always as a factor of at least 1:
// "3.87× faster", "869× faster", "1.29× slower" (latency: lower is better; throughput:
// higher is better). The same words in text, JSON and HTML.
[[nodiscard]] std::string verdict(const Comparison& c);
// The interquartile range of the factor `verdict` shows ("801–902×"), or both ends in words
// when the rounds disagree on who wins ("2.18× slower – 7.88× faster"); empty without rounds.
[[nodiscard]] std::string verdict_spread(const Comparison& c);
// A reader's name for a transport, system or pool case identifier ("boost-spsc_queue" ->
// "Boost.Lockfree spsc_queue", "submit_get_rtt_spin_p50" -> "submit().get() round trip p50,
// spin mode"); unknown identifiers come back as they are.
[[nodiscard]] std::string display_name(std::string_view id);
// Escapes &, <, >, " and ' for HTML/SVG text and attributes.
[[nodiscard]] std::string xml_escape(std::string_view text);

// Display width of UTF-8 text: one per code point (every character the report writes is
// narrow: "µ", "×", "→", "–").
[[nodiscard]] std::size_t display_width(std::string_view text);

// A plain-text table whose columns are as wide as their widest cell, so nothing is ever cut.
struct TextColumn {
  std::string header;
  bool right = false;  // right-aligned (numbers)
};
[[nodiscard]] std::string render_text_table(const std::vector<TextColumn>& columns,
                                            const std::vector<std::vector<std::string>>& rows,
                                            std::string_view indent = "  ");

}  // namespace ringpool::report
