#pragma once
// The report's payload section and `ringpool bench payload`: moving 8 B to 256 MiB through
// Pool::submit(echo, bytes).get() and a Queue, next to Python's multiprocessing (apply_async
// with bytes, a Queue of bytes, shared_memory handed over by name) and a memcpy of the same
// size on the same core (the physical floor). The measurement is the pool benchmark's
// (bench/pool, ringpool_poolbench); it is compiled in only when that library is part of the
// build. A size the build refuses (PayloadTooLarge) is shown as "not supported on this build"
// with the error, never as a number.
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringpool/report/model.hpp"

namespace ringpool::report {

// True when the payload benchmark is built into this binary.
[[nodiscard]] bool payload_section_available() noexcept;
// Why the payload section cannot be measured (empty when it can).
[[nodiscard]] std::string payload_section_unavailable_reason();

struct PayloadSectionOptions {
  std::vector<std::size_t> sizes;  // empty: 8 B, 1 KiB, 64 KiB, 1 MiB, 16 MiB, 256 MiB
  std::size_t rounds = 5;          // per size; sizes from 16 MiB up run at most 3
  bool quick = false;              // fewer round trips and items per trial
  bool python = true;              // run the Python peer when python3 is found
  unsigned parent_cpu = 0;         // caller, producer, memcpy
  unsigned worker_cpu = 1;         // the pool's one worker, the stream's consumer
  bool spin = true;                // the pool's wait mode: spin, else block
  // Before each trial: size index, trial within the size, trials of the size, what runs.
  std::function<void(std::size_t size_index, std::size_t trial, std::size_t trials,
                     std::string_view what)>
      progress;
};

// The sizes `options` runs (its own, or the default six).
[[nodiscard]] std::vector<std::size_t> payload_sizes(const PayloadSectionOptions& options);
// Roughly how many seconds each of those sizes takes (for a progress plan).
[[nodiscard]] std::vector<double> payload_expected_seconds(const PayloadSectionOptions& options);

// Runs the payload benchmark and builds the section (make_payload_section). Throws
// ReportError(invalid_argument) for bad options, ReportError(measurement) when it fails or is
// not available. A case that fails at one size is a row without a value, not a failure.
[[nodiscard]] PayloadSection measure_payload_section(const PayloadSectionOptions& options);

// Fills labels and the comparisons of a section whose rows (and rounds, cpus, sizes, python)
// are set: per size, ringpool's round trip against Python's apply_async and against two
// memcpy's (one each way), and its stream against Python's Queue, Python's shared_memory and
// memcpy's rate. Comparisons need both figures; a missing one is left out.
void complete_payload_section(PayloadSection& section);

// How a comparison of the section is named, for a size: e.g. "16 MiB round trip vs Python
// apply_async". The kinds, in the order complete_payload_section adds them:
enum class PayloadVs { python_apply_async, two_memcpy, python_queue, python_shared_memory, memcpy };
[[nodiscard]] std::string payload_comparison_name(std::size_t bytes, PayloadVs vs);
[[nodiscard]] const Comparison* find_payload_comparison(const PayloadSection& section,
                                                        std::size_t bytes, PayloadVs vs);
[[nodiscard]] const PayloadRow* find_payload_row(const PayloadSection& section,
                                                 std::string_view system, std::string_view name,
                                                 std::size_t bytes);

// Issue #9's two targets on the 16 MiB round trip, from the section (nullptr: not run, both
// not measured): >= 10x faster than Python's apply_async with bytes, and <= 3x the time of two
// memcpy's of 16 MiB.
[[nodiscard]] std::vector<Target> payload_targets(const PayloadSection* section);

// "8 B", "64 KiB", "16 MiB".
[[nodiscard]] std::string payload_size_label(std::size_t bytes);
// "1.23 GB/s" (decimal prefixes, as bandwidth is quoted); format_value for other units.
[[nodiscard]] std::string format_payload_value(double value, std::string_view unit);
// "1.2–1.5 GB/s", "829–844 ns": a p25-p75 range, the unit written once when both ends share it.
[[nodiscard]] std::string format_payload_range(double lo, double hi, std::string_view unit);
// What a row without a value shows: "not supported on this build" or "failed".
[[nodiscard]] std::string payload_missing_text(const PayloadRow& row);

// The section as text: the round-trip and stream tables with their ratios, the errors of the
// missing cases and, with `with_targets`, the two targets (the full report lists them with
// the others instead).
[[nodiscard]] std::string format_payload_text(const PayloadSection& section, bool with_targets);
// `ringpool bench payload --json`: one array of {system, case, bytes, value, unit}; a case that
// did not run has "value": null and "error" (its message) and "unsupported" (true when the build
// refused the size).
[[nodiscard]] nlohmann::json payload_rows_json(const PayloadSection& section);

}  // namespace ringpool::report
