// ringpool bench pool: the Pool's round trips (spin / block), map and imap_unordered
// throughput and Process start + join, side by side with Python's multiprocessing on the
// same machine. A thin CLI11 layer over ringpool::bench::run_pool_bench (bench/pool).
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "json_output.hpp"
#include "numbers.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"
#include "ringpool/bench/pool_bench.hpp"

namespace ringpool::cli {
namespace {

struct BenchPoolArgs {
  JsonOutput json;
  bool quick = false;
  bool no_python = false;
  std::size_t rounds = 5;
  bool rounds_given = false;
  std::string cpus;
  bool cpus_given = false;
};

void run_bench_pool(const BenchPoolArgs& args) {
  bench::PoolBenchOptions options;
  // --quick means one round unless --rounds says otherwise.
  options.rounds = args.quick && !args.rounds_given ? 1 : args.rounds;
  options.quick = args.quick;
  options.python = !args.no_python;
  std::vector<int> cpus;
  if (args.cpus_given) {
    cpus = bench::parse_cpu_list(args.cpus);
  } else {
    cpus = bench::thread_affinity();
    if (cpus.size() < 2) {
      throw bench::BenchError(bench::BenchErrc::cpu_not_allowed,
                              "ringpool bench pool needs two CPUs for its round trips, but this "
                              "process may only use CPU " +
                                  bench::format_cpu_list(cpus));
    }
    cpus.resize(2);
  }
  bench::check_cpu_pair(cpus);
  args.json.check();
  options.parent_cpu = cpus[0];
  options.worker_cpu = cpus[1];
  const auto results = bench::run_pool_bench(options);
  if (!args.json.on_stdout())
    std::cout << bench::format_pool_report(results, options) << std::flush;
  args.json.write(bench::pool_results_json(results));
}

}  // namespace

void add_bench_pool_command(CLI::App& bench) {
  auto args = std::make_shared<BenchPoolArgs>();
  auto* cmd = bench.add_subcommand(
      "pool",
      "Pool round trips (spin and block), map of 1,000,000 no-op tasks, imap_unordered with "
      "chunksize 1 and Process start + join, against Python's multiprocessing on this machine");
  args->json.add_options(*cmd, "one array of {system, case, value, unit}");
  auto* rounds = cmd->add_option("--rounds", args->rounds,
                                 "Interleaved rounds; medians are reported (1 with --quick)")
                     ->check(integer_in(1, 1000))
                     ->capture_default_str();
  cmd->add_flag("--quick", args->quick, "Tiny sizes and one round (seconds; for tests)");
  cmd->add_flag("--no-python", args->no_python, "Skip the Python multiprocessing peer");
  auto* cpus = cmd->add_option("--cpus", args->cpus,
                               "Caller,worker CPUs for the round trips, e.g. 0,1 (default: the "
                               "first two CPUs this process may use)");
  cmd->callback([args, cpus, rounds] {
    args->cpus_given = cpus->count() > 0;
    args->rounds_given = rounds->count() > 0;
    run_bench_pool(*args);
  });
}

}  // namespace ringpool::cli
