// `ringpool bench` with no sub-command: the report (machine, topology, plans, headline
// figures next to their peers with their spread over rounds, targets, MPMC scaling, pool
// dispatch, core-to-core latency), as text, JSON and a self-contained HTML page. A thin
// CLI11 layer over ringpool::report.
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "json_output.hpp"
#include "numbers.hpp"
#include "ringpool/report/html.hpp"
#include "ringpool/report/json.hpp"
#include "ringpool/report/machine_info.hpp"
#include "ringpool/report/output.hpp"
#include "ringpool/report/progress.hpp"
#include "ringpool/report/report.hpp"
#include "ringpool/topology/topology.hpp"

namespace ringpool::cli {
namespace {

struct ReportArgs {
  bool quick = false;
  std::size_t rounds = 0;
  JsonOutput json;
  std::string html;
};

void run_report(const ReportArgs& args, const std::string& command) {
  // A bad output path fails now, not after the measurements.
  args.json.check();
  report::check_output_path(args.html, "--html");
  report::ReportOptions options;
  options.quick = args.quick;
  options.rounds = args.rounds;
  options.command = command;
  const bool text = !args.json.on_stdout();
  const topology::Machine& machine = topology::Machine::live();
  if (text) {
    std::cout << report::format_machine_text(report::describe_machine())
              << report::format_topology_text(report::summarize_topology(machine),
                                              report::recommended_pair(machine))
              << std::flush;
  }
  report::Progress progress("ringpool bench", report::report_plan(options, machine));
  const report::Report result = report::run_report(options, progress);
  if (text) std::cout << report::format_results_text(result) << std::flush;
  args.json.write(report::to_json(result));
  if (!args.html.empty()) report::write_text_file(args.html, report::render_html(result));
}

}  // namespace

void add_report_command(CLI::App& bench) {
  auto args = std::make_shared<ReportArgs>();
  bench.require_subcommand(0, 1);
  bench.add_flag(
      "--quick", args->quick,
      "the report in about half a minute: 3 rounds of short trials (indicative figures)");
  bench
      .add_option("--rounds", args->rounds,
                  "interleaved rounds per section (default 7; 3 with --quick)")
      ->check(integer_in(1, 1000));
  args->json.add_options(bench,
                         "everything measured, with the machine, compiler and version (format "
                         "ringpool-report-1),");
  bench.add_option("--html", args->html,
                   "write a self-contained HTML page (tables, SVG charts) to FILE");
  bench.footer(
      "Without a sub-command, `ringpool bench` runs the full report: about two minutes on a quiet "
      "2-vCPU machine, longer with more CPUs (more core pairs and MPMC splits) and several "
      "times longer when other work competes for the CPUs (its trials spin on every core); "
      "--quick takes about half a minute. Progress goes to stderr: a bar with the time left on a "
      "terminal, one line per section otherwise.");
  bench.callback([args, &bench] {
    if (!bench.get_subcommands().empty()) return;  // `ringpool bench rings` etc.
    std::string command = "ringpool bench";
    if (args->quick) command += " --quick";
    if (args->rounds != 0) command += " --rounds " + std::to_string(args->rounds);
    if (args->json.on_stdout()) command += " --json";
    if (args->json.wanted() && !args->json.on_stdout())
      command += " --json-file " + args->json.target();
    if (!args->html.empty()) command += " --html " + args->html;
    run_report(*args, command);
  });
}

}  // namespace ringpool::cli
