// ringpool tune: measure the placements the topology offers, recommend a policy, and save
// it for later runs (a Pool loads it through RINGPOOL_PLACEMENT=FILE).
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "json_output.hpp"
#include "numbers.hpp"
#include "ringpool/report/c2c.hpp"
#include "ringpool/report/json.hpp"
#include "ringpool/report/output.hpp"
#include "ringpool/report/progress.hpp"
#include "ringpool/report/tune.hpp"
#include "ringpool/topology/topology.hpp"

namespace ringpool::cli {
namespace {

struct TuneArgs {
  std::size_t workers = 0;
  std::string cpus;
  std::size_t rounds = 0;
  bool quick = false;
  std::string save;
  JsonOutput json;
};

void run_tune(const TuneArgs& args) {
  report::TuneOptions options;
  options.workers = args.workers;
  if (!args.cpus.empty()) options.cpus = report::resolve_cpus(args.cpus, 1);
  // A bad output path fails now, not after the measurements.
  report::check_output_path(args.save, "--save");
  args.json.check();
  options.rounds = args.rounds;
  options.quick = args.quick;
  // About 5 s on the 2-vCPU development machine (one relation, one pool placement); more
  // relations and distinct placements take longer.
  report::Progress progress("ringpool tune",
                            {{"pair and pool placements", args.quick ? 1.5 : 5.0}});
  progress.begin(0);
  options.progress = [&](double fraction, std::string_view what) {
    progress.update(fraction, what);
  };
  const report::TuneResult result = report::run_tune(options);
  progress.finish();
  const bool text = !args.json.on_stdout();
  if (text) std::cout << report::format_tune_text(result);
  if (!args.save.empty()) {
    topology::save_placement(args.save, report::recommended_placement(result),
                             "ringpool tune: " + result.recommendation);
    if (text) {
      std::cout << "saved to " << args.save << "; use it with RINGPOOL_PLACEMENT=" << args.save
                << '\n';
    }
  }
  args.json.write(report::to_json(result));
  std::cout << std::flush;
}

}  // namespace

void add_tune_command(CLI::App& app) {
  auto args = std::make_shared<TuneArgs>();
  auto* cmd = app.add_subcommand(
      "tune",
      "Measure the placements this machine offers (producer -> consumer pairs per topology "
      "relation, pool placements per policy), recommend one and optionally save it");
  cmd->add_option("--workers", args->workers, "pool size to tune for (default: usable cores)")
      ->check(integer_in(1, 1 << 16));
  cmd->add_option("--cpus", args->cpus,
                  "only use these CPUs, e.g. 2-5 (the advice is then a list placement)");
  cmd->add_option("--rounds", args->rounds, "interleaved rounds (default 5; 3 with --quick)")
      ->check(integer_in(1, 1000));
  cmd->add_flag("--quick", args->quick, "short trials (seconds; figures indicative)");
  cmd->add_option("--save", args->save,
                  "write the recommended placement to FILE; later runs load it with "
                  "RINGPOOL_PLACEMENT=FILE");
  args->json.add_options(*cmd, "the measurements");
  cmd->callback([args] { run_tune(*args); });
}

}  // namespace ringpool::cli
