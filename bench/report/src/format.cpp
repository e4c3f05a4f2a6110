#include "ringpool/report/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace ringpool::report {
namespace {

// 3 significant digits without trailing noise: 62.3, 130, 1.53.
std::string three_digits(double v) {
  const double a = std::fabs(v);
  if (a >= 100.0 || a == 0.0) return fmt::format("{:.0f}", v);
  if (a >= 10.0) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2f}", v);
}

// "a–b unit" from "a unit" and "b unit": the longest common tail that starts at a space
// (" M items/s" or " items/s") is written once; "a unit–b unit" when there is none.
std::string join_range(const std::string& a, const std::string& b) {
  for (std::size_t pos = a.find(' '); pos != std::string::npos; pos = a.find(' ', pos + 1)) {
    const std::string_view tail = std::string_view(a).substr(pos);
    if (b.size() > tail.size() && std::string_view(b).substr(b.size() - tail.size()) == tail) {
      return a.substr(0, pos) + "–" + b;
    }
  }
  return a + "–" + b;
}

// "lo–hi unit", the unit written once.
std::string format_range(double lo, double hi, std::string_view unit) {
  if (unit == "x" || unit == "×") {
    std::string a = format_ratio(lo);
    a.resize(a.size() - std::string_view("×").size());
    return a + "–" + format_ratio(hi);
  }
  return join_range(format_value(lo, unit), format_value(hi, unit));
}

struct Name {
  std::string_view id;
  std::string_view label;
};

constexpr Name kNames[] = {
    // Ring transports (bench/kit).
    {"ringpool-spsc", "ringpool SPSC ring"},
    {"ringpool-mpmc", "ringpool MPMC ring"},
    {"boost-spsc_queue", "Boost.Lockfree spsc_queue"},
    {"boost-queue", "Boost.Lockfree queue"},
    {"boost-message_queue", "Boost.Interprocess message_queue"},
    {"pipe", "pipe"},
    {"socketpair", "Unix socketpair"},
    {"cacheline-pingpong", "cache-line ping-pong (the floor)"},
    // Systems.
    {"ringpool", "ringpool"},
    {"python-multiprocessing", "Python multiprocessing"},
    // Pool benchmark cases (bench/pool and its Python peer).
    {"submit_get_rtt_spin_p50", "submit().get() round trip p50, spin mode"},
    {"submit_get_rtt_spin_p99", "submit().get() round trip p99, spin mode"},
    {"submit_get_rtt_block_p50", "submit().get() round trip p50, block mode"},
    {"submit_get_rtt_block_p99", "submit().get() round trip p99, block mode"},
    {"pipe_rtt_p50", "pipe round trip p50, same CPUs"},
    {"map_default_chunksize", "map of no-op tasks, default chunksize"},
    {"map_chunksize_1", "map of no-op tasks, chunksize 1"},
    {"imap_unordered_chunksize_1", "imap_unordered of no-op tasks, chunksize 1"},
    {"process_start_join", "Process start + join (fork)"},
    {"process_start_join_fork", "Process start + join (fork)"},
    {"apply_async_get_rtt_p50", "apply_async().get() round trip p50"},
    {"apply_async_get_rtt_p99", "apply_async().get() round trip p99"},
    {"pipe_connection_rtt_p50", "Pipe send + recv round trip p50"},
    {"pipe_connection_rtt_p99", "Pipe send + recv round trip p99"},
    {"lock_contended", "Lock acquire + release, 2 processes contending"},
    {"pthread_mutex_contended", "process-shared pthread mutex, 2 processes contending"},
};

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
  const double a = std::fabs(ratio);
  if (a != 0.0 && a < 1.0) return fmt::format("{:.3g}×", ratio);
  return three_digits(ratio) + "×";
}

std::string format_value(double value, std::string_view unit) {
  if (unit == "x" || unit == "×") return format_ratio(value);
  if (unit == "ns") return format_ns(value);
  if (unit == "ms") return format_ns(value * 1e6);
  if (unit.size() > 2 && unit.substr(unit.size() - 2) == "/s") return format_rate(value, unit);
  return fmt::format("{} {}", three_digits(value), unit);
}

std::string format_spread(const Spread& spread, std::string_view unit) {
  if (spread.empty()) return {};
  return format_range(spread.p25, spread.p75, unit);
}

std::string format_percent(double fraction) {
  return fmt::format("{:.0f} %", fraction * 100.0);
}

std::string verdict(const Comparison& c) {
  if (c.speedup <= 0.0 || !std::isfinite(c.speedup)) return "not comparable";
  if (c.speedup >= 1.0) return format_ratio(c.speedup) + " faster";
  return format_ratio(1.0 / c.speedup) + " slower";
}

std::string verdict_spread(const Comparison& c) {
  const Spread& s = c.speedup_spread;
  if (s.empty() || c.speedup <= 0.0) return {};
  if (s.p25 <= 0.0 || s.p75 <= 0.0) return {};
  // Rounds that disagree on who wins: say both ends in words.
  if (s.p25 < 1.0 && s.p75 >= 1.0) {
    return format_ratio(1.0 / s.p25) + " slower – " + format_ratio(s.p75) + " faster";
  }
  if (s.p25 >= 1.0) return format_range(s.p25, s.p75, "x");
  // Slower throughout: the factor shown is 1 / speedup, so the range turns around too.
  return format_range(1.0 / s.p75, 1.0 / s.p25, "x");
}

std::string display_name(std::string_view id) {
  for (const Name& n : kNames) {
    if (n.id == id) return std::string(n.label);
  }
  return std::string(id);
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

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) ++n;  // not a continuation byte
  }
  return n;
}

std::string render_text_table(const std::vector<TextColumn>& columns,
                              const std::vector<std::vector<std::string>>& rows,
                              std::string_view indent) {
  std::vector<std::size_t> width(columns.size(), 0);
  for (std::size_t i = 0; i < columns.size(); ++i) width[i] = display_width(columns[i].header);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < columns.size(); ++i) {
      width[i] = std::max(width[i], display_width(row[i]));
    }
  }
  auto line = [&](auto cell_of) {
    std::string out(indent);
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const std::string& cell = cell_of(i);
      const std::string pad(width[i] - std::min(width[i], display_width(cell)), ' ');
      if (i != 0) out += "  ";
      out += columns[i].right ? pad + cell : cell + pad;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  static const std::string kEmpty;
  std::string out = line([&](std::size_t i) -> const std::string& { return columns[i].header; });
  for (const auto& row : rows) {
    out +=
        line([&](std::size_t i) -> const std::string& { return i < row.size() ? row[i] : kEmpty; });
  }
  return out;
}

}  // namespace ringpool::report
