#pragma once
// `ringpool bench pool`: the Pool measured against Python's multiprocessing on the same
// machine, interleaved over rounds (BENCHMARKING.md). A library so the full report can
// call it; cli/cmd_bench_pool.cpp is a thin CLI layer.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ringpool::bench {

struct PoolBenchOptions {
  std::size_t rounds = 5;
  // Tiny sizes: seconds per round, for tests and the quick report (the CLI's --quick also
  // asks for one round).
  bool quick = false;
  // Run the Python peer when python3 is found.
  bool python = true;
  std::string python_exe = "python3";
  // The peer script; empty = the one next to this library's sources.
  std::string python_script;
  // Round trips: the caller is pinned to parent_cpu, the one worker to worker_cpu.
  int parent_cpu = 0;
  int worker_cpu = 1;
};

// One figure: medians over rounds.
struct PoolResult {
  std::string system;  // "ringpool" or "python-multiprocessing"
  std::string case_name;
  double value = 0;
  std::string unit;            // "tasks/s", "ns", "ms"
  std::vector<double> rounds;  // the figure of each round, in round order (same for every case)
};

// Cases (ringpool): submit_get_rtt_{spin,block}_{p50,p99} (ns; one worker on worker_cpu,
// caller on parent_cpu), pipe_rtt_p50 (ns; same CPUs, the block-mode yardstick),
// map_default_chunksize (1,000,000 no-op int tasks, tasks/s), imap_unordered_chunksize_1
// (tasks/s), process_start_join (ms, ringpool::pool::Process with fork),
// pipe_connection_rtt_{p50,p99} (ns; Pipe<int> send + recv against an echoing child, same
// CPUs), lock_contended and pthread_mutex_contended (ns per acquire/release pair; the caller
// and a child on worker_cpu each take the lock, increment a shared counter and release it,
// contending; the second is a PTHREAD_PROCESS_SHARED mutex, the OS peer). Python rows:
// see python_mp_bench.py (the same case names where the API is the same: Pipe, Lock).
// Throws BenchError / PoolError on failure.
[[nodiscard]] std::vector<PoolResult> run_pool_bench(const PoolBenchOptions& options);

// [{"system", "case", "value", "unit"}, ...]
[[nodiscard]] nlohmann::json pool_results_json(const std::vector<PoolResult>& results);

// A table, the ringpool/Python ratios and the targets (met / missed with the numbers).
[[nodiscard]] std::string format_pool_report(const std::vector<PoolResult>& results,
                                             const PoolBenchOptions& options);

}  // namespace ringpool::bench
