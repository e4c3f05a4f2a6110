#include "ringpool/report/payload_section.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>

#include "ringpool/report/errors.hpp"
#include "ringpool/report/format.hpp"

#if RINGPOOL_REPORT_HAVE_POOL_BENCH
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/payload_bench.hpp"
#endif

namespace ringpool::report {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
constexpr std::size_t kDefaultSizes[] = {8, kKiB, 64 * kKiB, kMiB, 16 * kMiB, 256 * kMiB};
constexpr std::size_t kTargetBytes = 16 * kMiB;

constexpr const char* kRingpool = "ringpool";
constexpr const char* kPython = "python-multiprocessing";
constexpr const char* kMemcpy = "memcpy";

std::string case_label(std::string_view system, std::string_view name) {
  if (system == kRingpool && name == "submit_get_echo")
    return "Pool::submit(echo, std::vector<char>).get() round trip";
  if (system == kRingpool && name == "submit_get_echo_first")
    return "the first such round trip of a new Pool (payload lanes created)";
  if (system == kRingpool && name == "queue_stream")
    return "Queue<std::vector<char>> stream to another process";
  if (system == kPython && name == "apply_async_get_echo")
    return "Pool(1).apply_async(echo, (bytes,)).get() round trip";
  if (system == kPython && name == "queue_stream")
    return "multiprocessing.Queue stream of bytes to another process";
  if (system == kPython && name == "shared_memory_stream")
    return "shared_memory per item, name handed over, copied out by another process";
  if (system == kMemcpy && name == "memcpy") return "one memcpy on the caller's CPU";
  return std::string(name);
}

Figure figure_of(const PayloadRow& row, std::string system, const std::string& cpus) {
  return {std::move(system), row.value.value_or(0.0), row.unit, cpus, row.spread};
}

// memcpy's time turned into the floor a comparison needs: `factor` copies in a row (2 for a
// round trip), or the bandwidth of one copy (bytes/s), round by round.
Figure memcpy_floor(const PayloadRow& row, bool bandwidth, double factor, const std::string& cpus) {
  const auto convert = [&](double ns) {
    return bandwidth ? (ns > 0.0 ? static_cast<double>(row.bytes) * 1e9 / ns : 0.0) : ns * factor;
  };
  std::vector<double> rounds;
  for (double v : row.spread.rounds) rounds.push_back(convert(v));
  const std::string name =
      bandwidth ? "memcpy rate (same core)" : fmt::format("{} × memcpy (same core)", factor);
  return {name, convert(*row.value), bandwidth ? "bytes/s" : "ns", cpus,
          spread_over_rounds(std::move(rounds))};
}

void add(PayloadSection& s, std::size_t bytes, PayloadVs vs, const PayloadRow* ours,
         const PayloadRow* peer, bool higher_is_better, std::optional<Figure> floor = {}) {
  if (ours == nullptr || peer == nullptr || !ours->value || !peer->value) return;
  if (*ours->value <= 0.0 || *peer->value <= 0.0) return;
  Figure theirs = floor ? std::move(*floor) : figure_of(*peer, peer->system, "");
  s.comparisons.push_back(compare("payload", payload_comparison_name(bytes, vs),
                                  figure_of(*ours, kRingpool, s.cpus), std::move(theirs),
                                  higher_is_better));
}

Target payload_target(std::string name, const char* relation, double threshold) {
  Target t;
  t.name = std::move(name);
  t.section = "payload";
  t.relation = relation;
  t.threshold = threshold;
  t.unit = "x";
  return t;
}

}  // namespace

std::vector<std::size_t> payload_sizes(const PayloadSectionOptions& o) {
  if (!o.sizes.empty()) return o.sizes;
  return {std::begin(kDefaultSizes), std::end(kDefaultSizes)};
}

std::string payload_comparison_name(std::size_t bytes, PayloadVs vs) {
  const std::string size = payload_size_label(bytes);
  switch (vs) {
    case PayloadVs::python_apply_async:
      return size + " round trip vs Python apply_async";
    case PayloadVs::two_memcpy:
      return size + " round trip vs two memcpy's";
    case PayloadVs::python_queue:
      return size + " stream vs Python Queue";
    case PayloadVs::python_shared_memory:
      return size + " stream vs Python shared_memory";
    case PayloadVs::memcpy:
      return size + " stream vs memcpy's rate";
  }
  return size;
}

const PayloadRow* find_payload_row(const PayloadSection& s, std::string_view system,
                                   std::string_view name, std::size_t bytes) {
  for (const auto& r : s.rows) {
    if (r.system == system && r.name == name && r.bytes == bytes) return &r;
  }
  return nullptr;
}

const Comparison* find_payload_comparison(const PayloadSection& s, std::size_t bytes,
                                          PayloadVs vs) {
  const std::string what = payload_comparison_name(bytes, vs);
  for (const auto& c : s.comparisons) {
    if (c.what == what) return &c;
  }
  return nullptr;
}

void complete_payload_section(PayloadSection& s) {
  for (auto& row : s.rows) row.label = case_label(row.system, row.name);
  s.comparisons.clear();
  for (std::size_t bytes : s.sizes) {
    const PayloadRow* rtt = find_payload_row(s, kRingpool, "submit_get_echo", bytes);
    const PayloadRow* stream = find_payload_row(s, kRingpool, "queue_stream", bytes);
    const PayloadRow* copy = find_payload_row(s, kMemcpy, "memcpy", bytes);
    add(s, bytes, PayloadVs::python_apply_async, rtt,
        find_payload_row(s, kPython, "apply_async_get_echo", bytes), false);
    if (copy && copy->value) {
      add(s, bytes, PayloadVs::two_memcpy, rtt, copy, false,
          memcpy_floor(*copy, false, 2.0, s.cpus));
    }
    add(s, bytes, PayloadVs::python_queue, stream,
        find_payload_row(s, kPython, "queue_stream", bytes), true);
    add(s, bytes, PayloadVs::python_shared_memory, stream,
        find_payload_row(s, kPython, "shared_memory_stream", bytes), true);
    if (copy && copy->value) {
      add(s, bytes, PayloadVs::memcpy, stream, copy, true, memcpy_floor(*copy, true, 1.0, s.cpus));
    }
  }
}

std::vector<Target> payload_targets(const PayloadSection* s) {
  Target python = payload_target(
      "Payload: 16 MiB submit→get round trip ≥ 10× faster than Python apply_async with bytes",
      ">=", 10.0);
  Target floor = payload_target(
      "Payload: 16 MiB submit→get round trip ≤ 3× the time of two memcpy's of 16 MiB", "<=", 3.0);
  if (s != nullptr) {
    // Faster-by: Python's time over ours, so the threshold reads as in the issue.
    if (const Comparison* c =
            find_payload_comparison(*s, kTargetBytes, PayloadVs::python_apply_async)) {
      python.value = c->speedup;
      python.spread = c->speedup_spread;
    }
    if (const Comparison* c = find_payload_comparison(*s, kTargetBytes, PayloadVs::two_memcpy)) {
      floor.value = c->ratio;
      floor.spread = c->ratio_spread;
    }
  }
  evaluate(python);
  evaluate(floor);
  return {python, floor};
}

std::string payload_size_label(std::size_t bytes) {
  static constexpr std::pair<std::size_t, const char*> kUnits[] = {
      {std::size_t{1} << 30, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}};
  for (const auto& [scale, unit] : kUnits) {
    if (bytes < scale) continue;
    if (bytes % scale == 0) return fmt::format("{} {}", bytes / scale, unit);
    return fmt::format("{:.3g} {}", static_cast<double>(bytes) / static_cast<double>(scale), unit);
  }
  return fmt::format("{} B", bytes);
}

std::string format_payload_value(double value, std::string_view unit) {
  if (unit != "bytes/s") return format_value(value, unit);
  static constexpr std::pair<double, const char*> kPrefixes[] = {
      {1e12, "TB/s"}, {1e9, "GB/s"}, {1e6, "MB/s"}, {1e3, "kB/s"}};
  for (const auto& [scale, name] : kPrefixes) {
    if (std::fabs(value) >= scale) return fmt::format("{:.3g} {}", value / scale, name);
  }
  return fmt::format("{:.3g} B/s", value);
}

std::string format_payload_range(double lo, double hi, std::string_view unit) {
  const std::string a = format_payload_value(lo, unit);
  const std::string b = format_payload_value(hi, unit);
  const std::size_t sa = a.rfind(' ');
  const std::size_t sb = b.rfind(' ');
  if (sa != std::string::npos && sb != std::string::npos && a.substr(sa) == b.substr(sb))
    return a.substr(0, sa) + "–" + b;
  return a + "–" + b;
}

std::string payload_missing_text(const PayloadRow& row) {
  return row.unsupported ? "not supported on this build" : "failed";
}

namespace {

// "value [p25–p75]" in the row's unit, or the missing text with its footnote number.
std::string cell(const PayloadRow* row, std::vector<std::string>& notes) {
  if (row == nullptr) return "-";
  if (!row->value) {
    notes.push_back(fmt::format("{} {} at {}: {}", display_name(row->system), row->name,
                                payload_size_label(row->bytes), row->missing));
    return fmt::format("{} [{}]", payload_missing_text(*row), notes.size());
  }
  std::string out = format_payload_value(*row->value, row->unit);
  if (!row->spread.empty() && row->spread.rounds.size() > 1) {
    out += " (" + format_payload_range(row->spread.p25, row->spread.p75, row->unit) + ")";
  }
  if (row->unstable()) out += " UNSTABLE";
  return out;
}

std::string ratio_cell(const Comparison* c) {
  if (c == nullptr) return "-";
  std::string out = verdict(*c);
  const std::string range = verdict_spread(*c);
  if (!range.empty() && c->speedup_spread.rounds.size() > 1) out += " (" + range + ")";
  return out;
}

}  // namespace

std::string format_payload_text(const PayloadSection& s, bool with_targets) {
  std::vector<std::string> notes;
  std::string out = fmt::format(
      "\npayload: caller on CPU {0}, worker and consumer on CPU {1}, pool wait mode {2}; medians "
      "(p25–p75) over {3} interleaved rounds per size ({4} from 16 MiB up)\n",
      s.cpus.substr(0, s.cpus.find(',')), s.cpus.substr(s.cpus.find(',') + 1), s.wait, s.rounds,
      s.large_rounds);
  if (!s.python) out += "  Python multiprocessing not run: " + s.python_note + "\n";

  out += s.python ? "\nround trip: Pool::submit(echo, std::vector<char>(n)).get() after warm-up "
                    "round trips (a new pool's first one in its own column) against Python "
                    "Pool(1).apply_async(echo, (bytes(n),)).get() and two memcpy's of n bytes "
                    "(one each way)\n"
                  : "\nround trip: Pool::submit(echo, std::vector<char>(n)).get() after warm-up "
                    "round trips (a new pool's first one in its own column) against two "
                    "memcpy's of n bytes (one each way)\n";
  std::vector<std::vector<std::string>> rows;
  for (std::size_t bytes : s.sizes) {
    std::vector<std::string> row{
        payload_size_label(bytes),
        cell(find_payload_row(s, kRingpool, "submit_get_echo", bytes), notes),
        cell(find_payload_row(s, kRingpool, "submit_get_echo_first", bytes), notes)};
    if (s.python)
      row.push_back(cell(find_payload_row(s, kPython, "apply_async_get_echo", bytes), notes));
    const PayloadRow* copy = find_payload_row(s, kMemcpy, "memcpy", bytes);
    row.push_back(copy && copy->value ? format_ns(2.0 * *copy->value) : cell(copy, notes));
    if (s.python)
      row.push_back(ratio_cell(find_payload_comparison(s, bytes, PayloadVs::python_apply_async)));
    row.push_back(ratio_cell(find_payload_comparison(s, bytes, PayloadVs::two_memcpy)));
    rows.push_back(std::move(row));
  }
  std::vector<TextColumn> columns{{"size", true}, {"ringpool", true}, {"new pool's first", true}};
  if (s.python) columns.push_back({"Python apply_async", true});
  columns.push_back({"2 × memcpy", true});
  if (s.python) columns.push_back({"ringpool vs Python", true});
  columns.push_back({"ringpool vs 2 × memcpy", true});
  out += render_text_table(columns, rows);

  out += s.python
             ? "\none-way stream: Queue<std::vector<char>> items put here and got by another "
               "process, against Python's multiprocessing.Queue of bytes, shared_memory handed "
               "over by name (the other process copies the bytes out) and one memcpy's rate\n"
             : "\none-way stream: Queue<std::vector<char>> items put here and got by another "
               "process, against one memcpy's rate\n";
  rows.clear();
  for (std::size_t bytes : s.sizes) {
    std::vector<std::string> row{
        payload_size_label(bytes),
        cell(find_payload_row(s, kRingpool, "queue_stream", bytes), notes)};
    if (s.python) {
      row.push_back(cell(find_payload_row(s, kPython, "queue_stream", bytes), notes));
      row.push_back(cell(find_payload_row(s, kPython, "shared_memory_stream", bytes), notes));
    }
    const PayloadRow* copy = find_payload_row(s, kMemcpy, "memcpy", bytes);
    row.push_back(
        copy && copy->value && *copy->value > 0.0
            ? format_payload_value(static_cast<double>(bytes) * 1e9 / *copy->value, "bytes/s")
            : "-");
    if (s.python) {
      row.push_back(ratio_cell(find_payload_comparison(s, bytes, PayloadVs::python_queue)));
      row.push_back(ratio_cell(find_payload_comparison(s, bytes, PayloadVs::python_shared_memory)));
    }
    row.push_back(ratio_cell(find_payload_comparison(s, bytes, PayloadVs::memcpy)));
    rows.push_back(std::move(row));
  }
  columns = {{"size", true}, {"ringpool Queue", true}};
  if (s.python) {
    columns.push_back({"Python Queue", true});
    columns.push_back({"Python shared_memory", true});
  }
  columns.push_back({"memcpy rate", true});
  if (s.python) {
    columns.push_back({"vs Python Queue", true});
    columns.push_back({"vs shared_memory", true});
  }
  columns.push_back({"vs memcpy rate", true});
  out += render_text_table(columns, rows);

  for (std::size_t i = 0; i < notes.size(); ++i) {
    out += fmt::format("  [{}] {}\n", i + 1, notes[i]);
  }
  if (with_targets) {
    out += "\ntargets (issue #9), met only when the median and the whole p25–p75 range meet them\n";
    for (const Target& t : payload_targets(&s)) {
      const char* status = t.status == Target::Status::met ? "[met]"
                           : t.status == Target::Status::spread_crosses
                               ? "[NOT MET: the p25-p75 range crosses it]"
                           : t.status == Target::Status::missed ? "[MISSED]"
                                                                : "[not measured]";
      out += fmt::format(
          "  {} {}: {}{}\n", status, t.name, t.value ? format_ratio(*t.value) : std::string("-"),
          t.spread.empty() ? std::string() : " (" + format_spread(t.spread, "x") + ")");
    }
  }
  return out;
}

nlohmann::json payload_rows_json(const PayloadSection& s) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : s.rows) {
    nlohmann::json row = {{"system", r.system},
                          {"case", r.name},
                          {"bytes", r.bytes},
                          {"value", r.value ? nlohmann::json(*r.value) : nlohmann::json(nullptr)},
                          {"unit", r.unit}};
    if (!r.value) {
      row["error"] = r.missing;
      row["unsupported"] = r.unsupported;
    }
    a.push_back(std::move(row));
  }
  return a;
}

#if RINGPOOL_REPORT_HAVE_POOL_BENCH

namespace {

bench::PayloadBenchOptions bench_options(const PayloadSectionOptions& o) {
  bench::PayloadBenchOptions b;
  b.sizes = payload_sizes(o);
  b.rounds = o.rounds;
  b.quick = o.quick;
  b.python = o.python;
  b.parent_cpu = static_cast<int>(o.parent_cpu);
  b.worker_cpu = static_cast<int>(o.worker_cpu);
  b.spin = o.spin;
  b.progress = o.progress;
  return b;
}

}  // namespace

bool payload_section_available() noexcept {
  return true;
}

std::string payload_section_unavailable_reason() {
  return {};
}

std::vector<double> payload_expected_seconds(const PayloadSectionOptions& o) {
  const bench::PayloadBenchOptions b = bench_options(o);
  std::vector<double> out;
  for (std::size_t bytes : b.sizes) out.push_back(bench::expected_payload_seconds(bytes, b));
  return out;
}

PayloadSection measure_payload_section(const PayloadSectionOptions& o) {
  const bench::PayloadBenchOptions b = bench_options(o);
  std::vector<bench::PayloadResult> results;
  try {
    results = bench::run_payload_bench(b);
  } catch (const bench::BenchError& e) {
    if (e.code() == bench::BenchErrc::invalid_argument || e.code() == bench::BenchErrc::same_cpu)
      throw ReportError(ReportErrc::invalid_argument, e.what());
    throw ReportError(ReportErrc::measurement,
                      std::string("payload benchmark failed: ") + e.what());
  } catch (const std::exception& e) {
    throw ReportError(ReportErrc::measurement,
                      std::string("payload benchmark failed: ") + e.what());
  }
  PayloadSection s;
  s.rounds = static_cast<unsigned>(o.rounds);
  s.large_rounds = static_cast<unsigned>(std::min(o.rounds, bench::kLargePayloadRounds));
  s.cpus = fmt::format("{},{}", o.parent_cpu, o.worker_cpu);
  s.wait = o.spin ? "spin" : "block";
  s.python = bench::payload_python_available(b);
  if (!s.python) {
    s.python_note = o.python ? "python3 with multiprocessing.shared_memory, or the peer script "
                               "bench/pool/python_payload_bench.py, was not found"
                             : "switched off";
  }
  s.sizes = b.sizes;
  for (auto& r : results) {
    PayloadRow row;
    row.system = r.system;
    row.name = r.case_name;
    row.bytes = r.bytes;
    row.value = r.value;
    row.unit = r.unit;
    row.spread = spread_over_rounds(std::move(r.rounds));
    row.missing = std::move(r.error);
    row.unsupported = r.unsupported;
    s.rows.push_back(std::move(row));
  }
  complete_payload_section(s);
  return s;
}

#else  // the pool benchmark is not part of this build

bool payload_section_available() noexcept {
  return false;
}

std::string payload_section_unavailable_reason() {
  return "the payload benchmark (bench/pool, target ringpool_poolbench) is not part of this build";
}

std::vector<double> payload_expected_seconds(const PayloadSectionOptions& o) {
  return std::vector<double>(payload_sizes(o).size(), 0.0);
}

PayloadSection measure_payload_section(const PayloadSectionOptions&) {
  throw ReportError(ReportErrc::measurement, payload_section_unavailable_reason());
}

#endif

}  // namespace ringpool::report
