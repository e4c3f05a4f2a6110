// ringpool bench rings: ringpool's rings against Boost.Lockfree, Boost.Interprocess, pipes,
// Unix sockets and the cache-line floor, producer and consumer pinned to two CPUs.
// A thin CLI11 layer over ringpool::bench::run_ring_bench (bench/kit).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "json_output.hpp"
#include "numbers.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"
#include "ringpool/bench/ring_bench.hpp"

namespace ringpool::cli {
namespace {

struct BenchRingsArgs {
  std::string cpus;
  bool cpus_given = false;
  std::size_t rounds = 0;
  JsonOutput json;
  bool quick = false;
  std::vector<std::string> transports;
};

void run_bench_rings(const BenchRingsArgs& args) {
  bench::RingBenchOptions options;
  std::vector<int> cpus;
  if (!args.cpus_given) {
    cpus = bench::thread_affinity();
    if (cpus.size() < 2)
      throw bench::BenchError(bench::BenchErrc::cpu_not_allowed,
                              "ringpool bench rings needs two CPUs, but this process may only "
                              "use CPU " +
                                  bench::format_cpu_list(cpus));
    cpus.resize(2);
  } else {
    cpus = bench::parse_cpu_list(args.cpus);
  }
  bench::check_cpu_pair(cpus);
  args.json.check();
  options.cpu_a = cpus[0];
  options.cpu_b = cpus[1];
  options.rounds = args.rounds;
  options.quick = args.quick;
  options.transports = args.transports;
  if (isatty(STDERR_FILENO) == 1) {
    options.progress = [](std::string_view what, std::size_t done, std::size_t total) {
      std::fprintf(stderr, "\r\033[K[%zu/%zu] %.*s", done, total, static_cast<int>(what.size()),
                   what.data());
      if (done == total) std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    };
  }
  const auto rows = bench::run_ring_bench(options);
  if (!args.json.on_stdout()) {
    const std::size_t rounds = rows.empty() ? 0 : rows.front().items_per_s_rounds.size();
    std::cout << bench::format_ring_report(rows, rounds) << std::flush;
  }
  args.json.write(bench::ring_results_json(rows));
}

}  // namespace

void add_bench_rings_command(CLI::App& bench) {
  auto args = std::make_shared<BenchRingsArgs>();
  auto* cmd = bench.add_subcommand(
      "rings",
      "Ring throughput (8/64-byte items, single and batch-32) and round trips: ringpool SPSC "
      "and MPMC against Boost.Lockfree, Boost message_queue, pipe, socketpair and a bare "
      "cache-line ping-pong, producer and consumer in two processes pinned to two CPUs");
  auto* cpus =
      cmd->add_option("--cpus", args->cpus,
                      "Producer,consumer CPUs, e.g. 0,1 (default: the first two CPUs this process "
                      "may use)");
  cmd->add_option("--rounds", args->rounds,
                  "Interleaved rounds (each runs every case once); default 12, 3 with --quick")
      ->check(integer_in(1, 10'000));
  args->json.add_options(*cmd,
                         "one array of {transport, item_bytes, batch, items_per_s, rtt_ns_p50, "
                         "rtt_ns_p99, cpus}");
  cmd->add_flag("--quick", args->quick,
                "A few seconds in total (short trials, 3 rounds); also RINGPOOL_BENCH_QUICK=1");
  cmd->add_option("--transports", args->transports,
                  "Only these transports (comma-separated): ringpool-spsc, ringpool-mpmc, "
                  "boost-spsc_queue, boost-queue, boost-message_queue, pipe, socketpair, "
                  "cacheline-pingpong")
      ->delimiter(',');
  cmd->callback([args, cpus] {
    args->cpus_given = cpus->count() > 0;
    run_bench_rings(*args);
  });
}

}  // namespace ringpool::cli
