#include "ringpool/report/pool_section.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <vector>

#include "ringpool/report/errors.hpp"
#include "ringpool/report/format.hpp"

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
  s.rounds = static_cast<unsigned>(rounds);
  for (const auto& r : results) {
    PoolRow row;
    row.system = r.system;
    row.name = r.case_name;
    row.label = display_name(r.case_name);
    row.value = r.value;
    row.unit = r.unit;
    row.spread = spread_over_rounds(r.rounds);
    s.rows.push_back(std::move(row));
  }
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

#endif

}  // namespace ringpool::report
