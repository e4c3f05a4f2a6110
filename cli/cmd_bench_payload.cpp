// ringpool bench payload: 8 B to 256 MiB through Pool::submit(echo, bytes).get() and a
// Queue<std::vector<char>> stream, against Python's multiprocessing (apply_async with bytes,
// a Queue of bytes, shared_memory handed over by name) and a memcpy of the same size on the
// same core. A thin CLI11 layer over ringpool::report's payload section (which runs
// bench/pool's run_payload_bench).
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bench_pair_args.hpp"
#include "commands.hpp"
#include "ringpool/bench/payload_bench.hpp"
#include "ringpool/report/payload_section.hpp"
#include "ringpool/report/progress.hpp"

namespace ringpool::cli {
namespace {

struct BenchPayloadArgs : BenchPairArgs {
  std::string sizes;
  bool sizes_given = false;
  std::string wait = "spin";
};

void run_bench_payload(const BenchPayloadArgs& args) {
  report::PayloadSectionOptions options;
  options.rounds = args.rounds();
  options.quick = args.quick;
  options.python = !args.no_python;
  options.spin = args.wait == "spin";
  if (args.sizes_given) options.sizes = bench::parse_payload_sizes(args.sizes);
  const auto [parent, worker] = args.cpu_pair("payload", "(caller and worker)");
  options.parent_cpu = static_cast<unsigned>(parent);
  options.worker_cpu = static_cast<unsigned>(worker);

  // One progress section per size: a bar on a terminal, a line per size otherwise.
  const std::vector<std::size_t> sizes = report::payload_sizes(options);
  const std::vector<double> seconds = report::payload_expected_seconds(options);
  std::vector<report::Progress::Section> plan;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    plan.push_back({report::payload_size_label(sizes[i]), seconds[i]});
  }
  report::Progress progress("ringpool bench payload", plan);
  std::size_t current = sizes.size();
  options.progress = [&](std::size_t size, std::size_t trial, std::size_t trials,
                         std::string_view what) {
    if (size != current) {
      progress.begin(size);
      current = size;
    }
    progress.update(static_cast<double>(trial) / static_cast<double>(trials), what);
  };
  const report::PayloadSection section = report::measure_payload_section(options);
  progress.finish();
  if (!args.json.on_stdout()) std::cout << report::format_payload_text(section, true) << std::flush;
  args.json.write(report::payload_rows_json(section));
}

}  // namespace

void add_bench_payload_command(CLI::App& bench) {
  auto args = std::make_shared<BenchPayloadArgs>();
  auto* cmd = bench.add_subcommand(
      "payload",
      "Payloads of 8 B to 256 MiB: Pool submit(echo, bytes).get() round trips and a Queue "
      "stream to another process, against Python's multiprocessing (apply_async with bytes, a "
      "Queue, shared_memory handed over by name) and a memcpy of the same size on the same core");
  args->json.add_options(*cmd,
                         "one array of {system, case, bytes, value, unit}; a case that did not "
                         "run has value null, its error and unsupported (true: the build refused "
                         "the size)");
  args->add_options(*cmd,
                    {"Interleaved rounds per size, at most 3 from 16 MiB up; medians are reported "
                     "(1 with --quick)",
                     "Short trials and one round (seconds for small sizes; for tests)",
                     "Caller,worker CPUs, e.g. 0,1 (default: the first two CPUs this process may "
                     "use)"});
  auto* sizes =
      cmd->add_option("--sizes", args->sizes,
                      "Payload sizes, comma-separated, with an optional unit B, K/KiB, M/MiB, "
                      "G/GiB (default 8,1K,64K,1M,16M,256M)");
  cmd->add_option("--wait", args->wait,
                  "The pool's wait mode: spin (default; measures moving the bytes) or block")
      ->check(CLI::IsMember({"spin", "block"}))
      ->capture_default_str();
  cmd->footer(
      "The full run (six sizes, 5 rounds, Python included) takes about a minute on a quiet "
      "2-vCPU machine, most of it Python's 256 MiB round trips. A size this build refuses "
      "(PayloadTooLarge) is shown as \"not supported on this build\" with the error; in the JSON "
      "its value is null. Progress goes to stderr, one line per size when stderr is not a "
      "terminal.");
  cmd->callback([args, sizes] {
    args->sizes_given = sizes->count() > 0;
    run_bench_payload(*args);
  });
}

}  // namespace ringpool::cli
