#include "ringpool/report/pool_section.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <vector>

#include "ringpool/report/errors.hpp"

#if RINGPOOL_REPORT_HAVE_POOL_BENCH
#include "ringpool/bench/pool_bench.hpp"
#include "ringpool/bench/stats.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/topology/topology.hpp"
#endif

namespace ringpool::report {

#if RINGPOOL_REPORT_HAVE_POOL_BENCH

namespace {

int noop(int x) {
  return x;
}

const PoolRow* find(const PoolSection& s, std::string_view system, std::string_view name) {
  for (const auto& r : s.rows) {
    if (r.system == system && r.name == name) return &r;
  }
  return nullptr;
}

}  // namespace

bool pool_section_available() noexcept {
  return true;
}

std::string pool_section_unavailable_reason() {
  return {};
}

PoolSection measure_pool_section(std::size_t rounds, bool quick, unsigned parent_cpu,
                                 unsigned worker_cpu) {
  bench::PoolBenchOptions o;
  o.rounds = rounds;
  o.quick = quick;
  o.parent_cpu = static_cast<int>(parent_cpu);
  o.worker_cpu = static_cast<int>(worker_cpu);
  std::vector<bench::PoolResult> results;
  try {
    results = bench::run_pool_bench(o);
  } catch (const std::exception& e) {
    throw ReportError(ReportErrc::measurement, std::string("pool benchmark failed: ") + e.what());
  }
  PoolSection s;
  s.rounds = static_cast<unsigned>(quick ? 1 : rounds);
  for (const auto& r : results) s.rows.push_back({r.system, r.case_name, r.value, r.unit});
  return s;
}

PoolProbe probe_pool_placement(std::size_t workers, const std::string& policy,
                               const std::string& cpus, bool quick) {
  try {
    pool::PoolOptions options;
    options.workers = workers;
    topology::Placement placement;
    placement.policy = topology::parse_policy(policy);
    if (placement.policy == topology::Policy::list)
      placement.cpus = topology::CpuSet::from_list(cpus);
    options.placement = placement;
    options.wait = pool::WaitMode::spin;
    pool::Pool p(options);
    PoolProbe probe;
    for (pid_t pid : p.worker_pids()) {
      if (!probe.worker_cpus.empty()) probe.worker_cpus += ' ';
      probe.worker_cpus += topology::process_binding(pid).to_list();
    }
    // submit -> get round trips, one at a time.
    const std::size_t trips = quick ? 200 : 2'000;
    std::vector<double> ns;
    ns.reserve(trips);
    for (std::size_t i = 0; i < trips + trips / 10; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      (void)p.submit(noop, static_cast<int>(i)).get();
      const auto t1 = std::chrono::steady_clock::now();
      if (i >= trips / 10) ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    }
    const bench::Summary sum = bench::summarize(ns);
    probe.rtt_ns_p50 = sum.p50;
    probe.rtt_ns_p99 = sum.p99;
    // map throughput with Python's default chunksize.
    std::vector<int> inputs(quick ? 20'000 : 200'000);
    for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = static_cast<int>(i);
    (void)p.map(noop, inputs);  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = p.map(noop, inputs);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (out.size() != inputs.size()) {
      throw ReportError(ReportErrc::measurement, "pool map returned the wrong number of results");
    }
    probe.map_tasks_per_s = secs > 0.0 ? static_cast<double>(inputs.size()) / secs : 0.0;
    return probe;
  } catch (const ReportError&) {
    throw;
  } catch (const std::exception& e) {
    throw ReportError(ReportErrc::measurement,
                      fmt::format("pool placement {} {}: {}", policy, cpus, e.what()));
  }
}

void add_pool_comparisons(Report& r) {
  if (!r.pool) return;
  const PoolSection& s = *r.pool;
  const std::string ours = "ringpool";
  const std::string python = "python-multiprocessing";
  auto add = [&](const char* what, std::string_view our_case, const std::string& peer_system,
                 std::string_view peer_case, bool higher_is_better) {
    const PoolRow* a = find(s, ours, our_case);
    const PoolRow* b = find(s, peer_system, peer_case);
    if (!a || !b || a->value <= 0.0 || b->value <= 0.0) return;
    r.comparisons.push_back(compare("pool", what, {ours, a->value, a->unit, ""},
                                    {peer_system, b->value, b->unit, ""}, higher_is_better));
  };
  add("Pool submit→get round trip p50, spin mode", "submit_get_rtt_spin_p50", python,
      "apply_async_get_rtt_p50", false);
  add("Pool submit→get round trip p50, block mode", "submit_get_rtt_block_p50", python,
      "apply_async_get_rtt_p50", false);
  add("Pool submit→get p50 (block) vs a pipe round trip", "submit_get_rtt_block_p50", ours,
      "pipe_rtt_p50", false);
  add("Pool map of no-op tasks, default chunksize", "map_default_chunksize", python,
      "map_default_chunksize", true);
  add("Pool imap_unordered, chunksize 1", "imap_unordered_chunksize_1", python,
      "imap_unordered_chunksize_1", true);
  add("Process start + join (fork)", "process_start_join", python, "process_start_join_fork",
      false);
  // The pipe yardstick is ringpool's own row: name it as the peer.
  for (auto& c : r.comparisons) {
    if (c.section == "pool" && c.peer.system == ours) c.peer.system = "pipe (same CPUs)";
  }
}

#else  // the pool benchmark is not part of this build

bool pool_section_available() noexcept {
  return false;
}

std::string pool_section_unavailable_reason() {
  return "the pool benchmark (bench/pool, target ringpool_poolbench) is not part of this build";
}

PoolSection measure_pool_section(std::size_t, bool, unsigned, unsigned) {
  throw ReportError(ReportErrc::measurement, pool_section_unavailable_reason());
}

PoolProbe probe_pool_placement(std::size_t, const std::string&, const std::string&, bool) {
  throw ReportError(ReportErrc::measurement, pool_section_unavailable_reason());
}

void add_pool_comparisons(Report&) {}

#endif

}  // namespace ringpool::report
