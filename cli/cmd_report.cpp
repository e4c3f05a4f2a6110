// `ringpool bench` with no sub-command: the one-minute report (topology, plans, headline
// figures next to their peers, MPMC scaling, pool dispatch, core-to-core latency), as text,
// JSON and a self-contained HTML page. A thin CLI11 layer over ringpool::report.
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "numbers.hpp"
#include "ringpool/report/html.hpp"
#include "ringpool/report/json.hpp"
#include "ringpool/report/progress.hpp"
#include "ringpool/report/report.hpp"
#include "ringpool/topology/topology.hpp"

namespace ringpool::cli {
namespace {

struct ReportArgs {
  bool quick = false;
  std::size_t rounds = 0;
  std::string json;
  std::string html;
};

void run_report(const ReportArgs& args, const std::string& command) {
  report::ReportOptions options;
  options.quick = args.quick;
  options.rounds = args.rounds;
  options.command = command;
  // Text goes to stdout unless the JSON does.
  const bool text = args.json != "-";
  const topology::Machine& machine = topology::Machine::live();
  if (text) {
    std::cout << report::format_topology_text(report::summarize_topology(machine),
                                              report::recommended_pair(machine))
              << std::flush;
  }
  const report::ReportEstimate estimate = report::estimate_report(options);
  report::Progress progress(estimate.units, estimate.seconds);
  const report::Report result = report::run_report(options, progress);
  if (text) std::cout << report::format_results_text(result) << std::flush;
  if (!args.json.empty()) report::write_json(report::to_json(result), args.json);
  if (!args.html.empty()) report::write_text_file(args.html, report::render_html(result));
}

}  // namespace

void add_report_command(CLI::App& bench) {
  auto args = std::make_shared<ReportArgs>();
  bench.require_subcommand(0, 1);
  bench.add_flag("--quick", args->quick,
                 "the report in a few seconds: fewer rounds, short trials (indicative figures)");
  bench
      .add_option("--rounds", args->rounds,
                  "interleaved rounds per section (default 7; 3 with --quick)")
      ->check(integer_in(1, 1000));
  bench.add_option("--json", args->json,
                   "write everything measured, with machine, compiler and version, as JSON to "
                   "FILE ('-' = stdout, then no text)");
  bench.add_option("--html", args->html,
                   "write a self-contained HTML page (tables, SVG charts) to FILE");
  bench.footer(
      "Without a sub-command, `ringpool bench` runs the full report (about a minute; --quick "
      "for a few seconds).");
  bench.callback([args, &bench] {
    if (!bench.get_subcommands().empty()) return;  // `ringpool bench rings` etc.
    std::string command = "ringpool bench";
    if (args->quick) command += " --quick";
    if (args->rounds != 0) command += " --rounds " + std::to_string(args->rounds);
    if (!args->json.empty()) command += " --json " + args->json;
    if (!args->html.empty()) command += " --html " + args->html;
    run_report(*args, command);
  });
}

}  // namespace ringpool::cli
