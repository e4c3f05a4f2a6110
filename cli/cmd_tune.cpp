// ringpool tune: measure the placements the topology offers, recommend a policy, and save
// it for later runs (a Pool loads it through RINGPOOL_PLACEMENT=FILE).
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "numbers.hpp"
#include "ringpool/report/c2c.hpp"
#include "ringpool/report/json.hpp"
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
  std::string json;
};

void run_tune(const TuneArgs& args) {
  report::TuneOptions options;
  options.workers = args.workers;
  if (!args.cpus.empty()) options.cpus = report::resolve_cpus(args.cpus, 1);
  options.rounds = args.rounds;
  options.quick = args.quick;
  report::Progress progress(1000, args.quick ? 3.0 : 20.0);
  options.progress = [&](double fraction, std::string_view what) {
    progress.running(what);
    progress.set_done(static_cast<std::size_t>(fraction * 1000));
  };
  const report::TuneResult result = report::run_tune(options);
  progress.finish();
  const bool text = args.json != "-";
  if (text) std::cout << report::format_tune_text(result);
  if (!args.save.empty()) {
    topology::save_placement(args.save, report::recommended_placement(result),
                             "ringpool tune: " + result.recommendation);
    if (text) {
      std::cout << "saved to " << args.save << "; use it with RINGPOOL_PLACEMENT=" << args.save
                << '\n';
    }
  }
  if (!args.json.empty()) report::write_json(report::to_json(result), args.json);
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
  cmd->add_option("--json", args->json, "write the measurements as JSON to FILE ('-' = stdout)");
  cmd->callback([args] { run_tune(*args); });
}

}  // namespace ringpool::cli
