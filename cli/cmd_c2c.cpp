// ringpool c2c: core-to-core latency for every pair of usable CPUs (or a given list).
// A thin CLI11 layer over ringpool::report::measure_c2c.
#include <fmt/format.h>

#include <iostream>
#include <string>

#include "commands.hpp"
#include "json_output.hpp"
#include "numbers.hpp"
#include "ringpool/report/c2c.hpp"
#include "ringpool/report/errors.hpp"
#include "ringpool/report/html.hpp"
#include "ringpool/report/json.hpp"
#include "ringpool/report/output.hpp"
#include "ringpool/report/progress.hpp"
#include "ringpool/report/svg.hpp"

namespace ringpool::cli {
namespace {

struct C2cArgs {
  std::string cpus;
  std::size_t rounds = 7;
  std::size_t round_trips = 20'000;
  bool quick = false;
  JsonOutput json;
  std::string svg;
};

void run_c2c(const C2cArgs& args) {
  report::C2cOptions options;
  options.cpus = report::resolve_cpus(args.cpus);
  args.json.check();
  report::check_output_path(args.svg, "--svg");
  options.rounds = args.rounds;
  options.round_trips = args.round_trips;
  if (args.quick) {
    options.rounds = std::min<std::size_t>(options.rounds, 3);
    options.round_trips = std::min<std::size_t>(options.round_trips, 2'000);
    options.warmup = 200;
  }
  const std::size_t pairs = options.cpus.size() * (options.cpus.size() - 1) / 2;
  const std::size_t trials = pairs * options.rounds;
  // A trial forks a pinned responder and bounces the line: ~3 ms plus 150 ns per round trip.
  const double trial_s = 0.003 + static_cast<double>(options.round_trips + options.warmup) * 150e-9;
  report::Progress progress(
      "ringpool c2c",
      {{fmt::format("core-to-core latency, {} pair(s) x {} rounds", pairs, options.rounds),
        static_cast<double>(trials) * trial_s}});
  progress.begin(0);
  options.on_trial = [&](std::size_t done, std::size_t total, const std::string& what) {
    progress.update(static_cast<double>(done) / static_cast<double>(total), "c2c " + what);
  };
  const report::C2cMatrix matrix = report::measure_c2c(options);
  progress.finish();

  if (!args.json.on_stdout()) std::cout << report::format_c2c_text(matrix) << std::flush;
  args.json.write(report::to_json(matrix));
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
  args->json.add_options(*cmd, "the matrix");
  cmd->add_option("--svg", args->svg, "write the heatmap as an SVG image to FILE");
  cmd->callback([args] { run_c2c(*args); });
}

}  // namespace ringpool::cli
