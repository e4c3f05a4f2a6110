#include "ringpool/report/format.hpp"

#include <fmt/format.h>

#include <cmath>

namespace ringpool::report {
namespace {

// 3 significant digits without trailing noise: 62.3, 130, 1.53.
std::string three_digits(double v) {
  const double a = std::fabs(v);
  if (a >= 100.0 || a == 0.0) return fmt::format("{:.0f}", v);
  if (a >= 10.0) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2f}", v);
}

}  // namespace

std::string format_rate(double per_second, std::string_view unit) {
  static constexpr struct {
    double scale;
    const char* prefix;
  } kPrefixes[] = {{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
  for (const auto& p : kPrefixes) {
    if (std::fabs(per_second) >= p.scale) {
      return fmt::format("{} {} {}", three_digits(per_second / p.scale), p.prefix, unit);
    }
  }
  return fmt::format("{} {}", three_digits(per_second), unit);
}

std::string format_ns(double ns) {
  const double a = std::fabs(ns);
  if (a >= 1e9) return three_digits(ns / 1e9) + " s";
  if (a >= 1e6) return three_digits(ns / 1e6) + " ms";
  if (a >= 1e3) return three_digits(ns / 1e3) + " µs";
  return three_digits(ns) + " ns";
}

std::string format_ratio(double ratio) {
  return three_digits(ratio) + "×";
}

std::string format_value(double value, std::string_view unit) {
  if (unit == "ns") return format_ns(value);
  if (unit == "ms") return format_ns(value * 1e6);
  if (unit.size() > 2 && unit.substr(unit.size() - 2) == "/s") return format_rate(value, unit);
  return fmt::format("{} {}", three_digits(value), unit);
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace ringpool::report
