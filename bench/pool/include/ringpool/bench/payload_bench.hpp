#pragma once
// `ringpool bench payload`: what moving a payload of 8 B to 256 MiB costs. For each size,
// interleaved over rounds (BENCHMARKING.md), on two pinned CPUs:
//   ringpool  submit_get_echo  ns per Pool::submit(echo, std::vector<char>(n)).get() (one
//                              worker; the bytes go to it and the same bytes come back),
//                              after warm-up round trips (kWarmUpRoundTrips from 16 MiB up)
//             submit_get_echo_first
//                              ns of the first such round trip of a new Pool (its payload
//                              lanes created and faulted in, the heap not yet grown)
//             queue_stream     bytes/s of Queue<std::vector<char>> items put here and got by
//                              another process (default QueueOptions, maxsize as below)
//   python-multiprocessing (python_payload_bench.py, when python3 is found)
//             apply_async_get_echo, queue_stream, shared_memory_stream
//   memcpy    memcpy           ns of one memcpy of n bytes on the caller's CPU, source and
//                              destination already touched (the physical floor)
// A case that cannot run at a size (PayloadTooLarge on a build without the large-payload
// path, a failure) has no value and says why; nothing is ever made up. A library so the
// full report can call it; cli/cmd_bench_payload.cpp is a thin CLI layer.
#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringpool::bench {

inline constexpr std::size_t kKiB = 1024;
inline constexpr std::size_t kMiB = 1024 * kKiB;
// The sizes of issue #9: 8 B, 1 KiB, 64 KiB, 1 MiB, 16 MiB, 256 MiB.
inline constexpr std::array<std::size_t, 6> kPayloadSizes{8,    kKiB,      64 * kKiB,
                                                          kMiB, 16 * kMiB, 256 * kMiB};
// Sizes from this one up run at most kLargePayloadRounds rounds (a Python round trip of
// 256 MiB takes seconds).
inline constexpr std::size_t kLargePayload = 16 * kMiB;
inline constexpr std::size_t kLargePayloadRounds = 3;
// Untimed round trips before the timed ones, from kLargePayload up to kWarmUpLimit, for
// ringpool and Python alike (below kLargePayload: a tenth of ringpool's timed ones, one of
// Python's). A new Pool's first round trip of a large value creates its payload lanes (fresh
// pages, ~10-40 µs each on the first write in a virtual machine) and the second still grows
// glibc's heap (its mmap threshold adapts after the first free); the steady state a service
// sees starts at the third. The first is reported on its own (submit_get_echo_first). Above
// kWarmUpLimit every round trip uses fresh one-off segments anyway, and a warm-up would cost
// seconds.
inline constexpr std::size_t kWarmUpRoundTrips = 2;
inline constexpr std::size_t kWarmUpLimit = 64 * kMiB;
// The largest size the benchmark accepts.
inline constexpr std::size_t kMaxPayloadSize = std::size_t{4} << 30;

// "8,1K,64KiB,1M,16MiB,256M" -> bytes, in the order given. Suffixes K/KiB, M/MiB, G/GiB (powers
// of 1024, case-insensitive) or none (bytes). Throws BenchError(invalid_argument) naming the
// bad entry for an empty list or entry, a malformed number, 0, a size above kMaxPayloadSize
// or a repeated size.
[[nodiscard]] std::vector<std::size_t> parse_payload_sizes(std::string_view text);
// "8 B", "1 KiB", "64 KiB", "1.5 MiB", "256 MiB".
[[nodiscard]] std::string format_bytes(std::size_t bytes);

// System and case names of the rows.
inline constexpr std::string_view kSystemRingpool = "ringpool";
inline constexpr std::string_view kSystemPython = "python-multiprocessing";
inline constexpr std::string_view kSystemMemcpy = "memcpy";
inline constexpr std::string_view kCaseSubmitGetEcho = "submit_get_echo";
inline constexpr std::string_view kCaseSubmitGetEchoFirst = "submit_get_echo_first";
inline constexpr std::string_view kCaseQueueStream = "queue_stream";
inline constexpr std::string_view kCaseApplyAsyncEcho = "apply_async_get_echo";
inline constexpr std::string_view kCaseSharedMemoryStream = "shared_memory_stream";
inline constexpr std::string_view kCaseMemcpy = "memcpy";

struct PayloadBenchOptions {
  std::vector<std::size_t> sizes;  // empty: kPayloadSizes
  // Interleaved rounds per size (sizes >= kLargePayload: at most kLargePayloadRounds).
  std::size_t rounds = 5;
  // Fewer round trips and items per trial (seconds in total for small sizes; for tests).
  bool quick = false;
  // Run the Python peer when python3 with multiprocessing is found.
  bool python = true;
  std::string python_exe = "python3";
  std::string python_script;  // empty: python_payload_bench.py next to this library's sources
  // The caller (producer, memcpy) is pinned to parent_cpu; the pool's one worker and the
  // stream's consumer to worker_cpu. A CPU this process may not use is left unpinned.
  int parent_cpu = 0;
  int worker_cpu = 1;
  // The pool's WaitMode: spin (default: the figures are the cost of moving the bytes, not of
  // waking a sleeping worker) or block.
  bool spin = true;
  // Called before each trial: size index, trial number within the size, trials of the size
  // and what runs. May be empty.
  std::function<void(std::size_t size_index, std::size_t trial, std::size_t trials,
                     std::string_view what)>
      progress;
};

// How much one trial does at one size (scaled so that 8 B runs thousands of round trips and
// 256 MiB one or two).
struct PayloadTrialPlan {
  std::size_t rounds = 0;
  std::size_t round_trips = 0;  // ringpool submit_get_echo, and memcpy's copies
  std::size_t warm_up = 0;      // untimed ringpool round trips first
  std::size_t stream_items = 0;
  std::size_t python_round_trips = 0;
  std::size_t python_items = 0;
  std::size_t python_warm_up = 0;  // untimed Python round trips first
  std::size_t maxsize = 0;         // the streams' queue bound (ringpool and Python)
};
[[nodiscard]] PayloadTrialPlan payload_trial_plan(std::size_t bytes,
                                                  const PayloadBenchOptions& options);
// A rough guess of the seconds one size takes with these options (for a progress display).
[[nodiscard]] double expected_payload_seconds(std::size_t bytes,
                                              const PayloadBenchOptions& options);

// One case at one size: the median over rounds, or nothing and why.
struct PayloadResult {
  std::string system;  // kSystemRingpool, kSystemPython, kSystemMemcpy
  std::string case_name;
  std::size_t bytes = 0;
  std::optional<double> value;  // median over rounds; nullopt when the case did not run
  std::string unit;             // "ns" or "bytes/s"
  std::vector<double> rounds;   // per-round figures in round order (empty without a value)
  // Without a value: why. `unsupported` when the build refused the size (PayloadTooLarge),
  // else the case failed.
  std::string error;
  bool unsupported = false;
};

// Every case at every size, sizes in the order given. Python rows are absent when the peer
// is not run (options.python false, or python3 not found). Throws BenchError for bad options
// (no rounds, a size of 0, the same CPU twice).
[[nodiscard]] std::vector<PayloadResult> run_payload_bench(const PayloadBenchOptions& options);
// True when the Python peer would run with these options (python3 imports multiprocessing and
// the script exists).
[[nodiscard]] bool payload_python_available(const PayloadBenchOptions& options);

}  // namespace ringpool::bench
