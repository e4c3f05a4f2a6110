// ringpool c2c: core-to-core latency for every pair of usable CPUs (or a given list).
// A thin CLI11 layer over ringpool::report::measure_c2c.
#include <fmt/format.h>

#include <iostream>
#include <string>

#include "commands.hpp"
#include "numbers.hpp"
#include "ringpool/report/c2c.hpp"
#include "ringpool/report/errors.hpp"
#include "ringpool/report/html.hpp"
#include "ringpool/report/json.hpp"
#include "ringpool/report/progress.hpp"
#include "ringpool/report/svg.hpp"

namespace ringpool::cli {
namespace {

struct C2cArgs {
  std::string cpus;
  std::size_t rounds = 7;
  std::size_t round_trips = 20'000;
  bool quick = false;
  std::string json;
  std::string svg;
};

void run_c2c(const C2cArgs& args) {
  report::C2cOptions options;
  options.cpus = report::resolve_cpus(args.cpus);
  options.rounds = args.rounds;
  options.round_trips = args.round_trips;
  if (args.quick) {
    options.rounds = std::min<std::size_t>(options.rounds, 3);
    options.round_trips = std::min<std::size_t>(options.round_trips, 2'000);
    options.warmup = 200;
  }
  const std::size_t pairs = options.cpus.size() * (options.cpus.size() - 1) / 2;
  // ~3 ms of ping-pong plus a fork per trial.
  report::Progress progress(pairs * options.rounds,
                            static_cast<double>(pairs * options.rounds) * 0.005);
  options.on_trial = [&](std::size_t, std::size_t, const std::string& what) {
    progress.running("c2c " + what);
    progress.advance();
  };
  const report::C2cMatrix matrix = report::measure_c2c(options);
  progress.finish();

  if (args.json != "-") std::cout << report::format_c2c_text(matrix) << std::flush;
  if (!args.json.empty()) report::write_json(report::to_json(matrix), args.json);
  if (!args.svg.empty()) report::write_text_file(args.svg, report::c2c_heatmap_svg(matrix));
}

}  // namespace

void add_c2c_command(CLI::App& app) {
  auto args = std::make_shared<C2cArgs>();
  auto* cmd = app.add_subcommand(
      "c2c",
      "Core-to-core latency: a cache line bounced between every pair of usable CPUs, printed "
      "as a matrix with the fastest and slowest pairs");
  cmd->add_option("--cpus", args->cpus,
                  "CPUs to measure, e.g. 0-3,8 (default: every CPU this process may use)");
  cmd->add_option("--rounds", args->rounds, "rounds; every pair runs once per round")
      ->check(integer_in(1, 1000));
  cmd->add_option("--round-trips", args->round_trips, "timed round trips per pair per round")
      ->check(integer_in(100, 10'000'000));
  cmd->add_flag("--quick", args->quick, "a few rounds of few round trips (seconds; for tests)");
  cmd->add_option("--json", args->json, "write the matrix as JSON to FILE ('-' = stdout)");
  cmd->add_option("--svg", args->svg, "write the heatmap as an SVG image to FILE");
  cmd->callback([args] { run_c2c(*args); });
}

}  // namespace ringpool::cli
