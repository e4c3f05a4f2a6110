// ringpool bench pool: the Pool's round trips (spin / block), map and imap_unordered
// throughput and Process start + join, side by side with Python's multiprocessing on the
// same machine. A thin CLI11 layer over ringpool::bench::run_pool_bench (bench/pool).
#include <iostream>
#include <memory>
#include <tuple>

#include "bench_pair_args.hpp"
#include "commands.hpp"
#include "ringpool/bench/pool_bench.hpp"

namespace ringpool::cli {
namespace {

void run_bench_pool(const BenchPairArgs& args) {
  bench::PoolBenchOptions options;
  options.rounds = args.rounds();
  options.quick = args.quick;
  options.python = !args.no_python;
  std::tie(options.parent_cpu, options.worker_cpu) = args.cpu_pair("pool", "for its round trips");
  const auto results = bench::run_pool_bench(options);
  if (!args.json.on_stdout())
    std::cout << bench::format_pool_report(results, options) << std::flush;
  args.json.write(bench::pool_results_json(results));
}

}  // namespace

void add_bench_pool_command(CLI::App& bench) {
  auto args = std::make_shared<BenchPairArgs>();
  auto* cmd = bench.add_subcommand(
      "pool",
      "Pool round trips (spin and block), map of 1,000,000 no-op tasks, imap_unordered with "
      "chunksize 1 and Process start + join, against Python's multiprocessing on this machine");
  args->json.add_options(*cmd, "one array of {system, case, value, unit}");
  args->add_options(*cmd, {"Interleaved rounds; medians are reported (1 with --quick)",
                           "Tiny sizes and one round (seconds; for tests)",
                           "Caller,worker CPUs for the round trips, e.g. 0,1 (default: the "
                           "first two CPUs this process may use)"});
  cmd->callback([args] { run_bench_pool(*args); });
}

}  // namespace ringpool::cli
