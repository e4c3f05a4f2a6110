#include "ringpool/report/c2c.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>

#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pingpong.hpp"
#include "ringpool/bench/rounds.hpp"
#include "ringpool/bench/stats.hpp"
#include "ringpool/report/errors.hpp"
#include "ringpool/report/format.hpp"
#include "ringpool/topology/topology.hpp"

namespace ringpool::report {
namespace {

std::string relation_name(const topology::Machine& machine, unsigned a, unsigned b) {
  try {
    return std::string(topology::to_string(machine.relation(a, b)));
  } catch (const topology::TopologyError&) {
    return "unknown";
  }
}

struct PairTrial {
  double one_way_p50 = 0.0;
  double one_way_p99 = 0.0;
};

}  // namespace

std::vector<unsigned> resolve_cpus(std::string_view list, std::size_t min_count) {
  const topology::Usable usable = topology::Machine::live().usable();
  std::vector<unsigned> cpus;
  if (list.find_first_not_of(" \t") == std::string_view::npos) {
    cpus = usable.cpus.to_vector();
  } else {
    // Keep the user's order: parse item by item, each item a CPU or an a-b range.
    std::string_view rest = list;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      topology::CpuSet part;
      try {
        part = topology::CpuSet::from_list(item);
      } catch (const topology::TopologyError&) {
        part = {};
      }
      if (part.empty()) {
        throw ReportError(ReportErrc::invalid_argument,
                          fmt::format("--cpus '{}': '{}' is not a CPU number or range; use a "
                                      "list such as 0,1 or 0-3,8",
                                      list, item));
      }
      for (unsigned cpu : part) {
        if (std::find(cpus.begin(), cpus.end(), cpu) != cpus.end()) {
          throw ReportError(
              ReportErrc::invalid_argument,
              fmt::format("--cpus '{}': CPU {} is listed twice; name each CPU once", list, cpu));
        }
        cpus.push_back(cpu);
      }
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  for (unsigned cpu : cpus) {
    if (!usable.cpus.contains(cpu)) {
      throw ReportError(ReportErrc::cpu_not_usable,
                        fmt::format("CPU {} is not usable by this process; usable CPUs: {}", cpu,
                                    usable.cpus.to_list()));
    }
  }
  if (cpus.size() < min_count) {
    throw ReportError(
        ReportErrc::invalid_argument,
        fmt::format("need at least {} distinct usable CPUs, got {} ({}); usable CPUs: {}",
                    min_count, cpus.size(), list.empty() ? "every usable CPU" : std::string(list),
                    usable.cpus.to_list()));
  }
  return cpus;
}

C2cMatrix measure_c2c(const C2cOptions& options) {
  if (options.cpus.size() < 2) {
    throw ReportError(ReportErrc::invalid_argument, "core-to-core latency needs at least two CPUs");
  }
  if (options.rounds == 0 || options.round_trips == 0) {
    throw ReportError(ReportErrc::invalid_argument, "rounds and round trips must be at least 1");
  }
  const topology::Machine& machine = topology::Machine::live();

  C2cMatrix m;
  m.cpus = options.cpus;
  m.rounds = static_cast<unsigned>(options.rounds);
  m.round_trips_per_trial = options.round_trips;

  std::vector<bench::Contender<PairTrial>> contenders;
  for (std::size_t i = 0; i < options.cpus.size(); ++i) {
    for (std::size_t j = i + 1; j < options.cpus.size(); ++j) {
      const unsigned a = options.cpus[i];
      const unsigned b = options.cpus[j];
      C2cPair pair;
      pair.a = a;
      pair.b = b;
      pair.relation = relation_name(machine, a, b);
      m.pairs.push_back(pair);
      bench::PingPongOptions ping;
      ping.cpu_a = static_cast<int>(a);
      ping.cpu_b = static_cast<int>(b);
      ping.warmup = options.warmup;
      ping.round_trips = options.round_trips;
      contenders.push_back({fmt::format("CPU {} <-> CPU {}", a, b), [ping] {
                              const bench::PingPongResult r = bench::cacheline_pingpong(ping);
                              return PairTrial{r.rtt_ns.p50 / 2.0, r.rtt_ns.p99 / 2.0};
                            }});
    }
  }

  bench::RoundsOptions rounds;
  rounds.rounds = options.rounds;
  const std::size_t total = options.rounds * contenders.size();
  std::size_t done = 0;
  if (options.on_trial) {
    rounds.on_trial = [&](std::size_t, std::size_t contender) {
      options.on_trial(++done, total, contenders[contender].name);
    };
  }
  bench::RoundsResult<PairTrial> result;
  try {
    result = bench::run_rounds(contenders, rounds);
  } catch (const bench::BenchError& e) {
    throw ReportError(ReportErrc::measurement,
                      std::string("core-to-core ping-pong failed: ") + e.what());
  }
  for (std::size_t i = 0; i < m.pairs.size(); ++i) {
    const auto p50s = result.values(i, &PairTrial::one_way_p50);
    const auto p99s = result.values(i, &PairTrial::one_way_p99);
    m.pairs[i].one_way_ns_p50 = bench::median(p50s);
    m.pairs[i].one_way_ns_p99 = bench::median(p99s);
    m.pairs[i].round_min_ns = *std::min_element(p50s.begin(), p50s.end());
    m.pairs[i].round_max_ns = *std::max_element(p50s.begin(), p50s.end());
    m.pairs[i].one_way_ns_p50_spread = spread_over_rounds(p50s);
  }
  return m;
}

std::string format_c2c_text(const C2cMatrix& m) {
  std::string out = fmt::format(
      "Core-to-core one-way latency, ns (p50 over {} rounds of {} round trips; a cache line "
      "bounced between two pinned processes)\n\n",
      m.rounds, m.round_trips_per_trial);
  out += fmt::format("{:>6}", "CPU");
  for (unsigned c : m.cpus) out += fmt::format("{:>8}", c);
  out += '\n';
  for (unsigned a : m.cpus) {
    out += fmt::format("{:>6}", a);
    for (unsigned b : m.cpus) {
      const C2cPair* p = m.find(a, b);
      out += p ? fmt::format("{:>8.0f}", p->one_way_ns_p50) : fmt::format("{:>8}", "-");
    }
    out += '\n';
  }
  out += '\n';
  const C2cPair* fast = m.fastest();
  const C2cPair* slow = m.slowest();
  auto line = [](const char* label, const C2cPair& p) {
    return fmt::format(
        "{} CPU {} <-> CPU {} ({}): {} one way (p99 {}; per-round medians p25-p75 {}, min-max "
        "{} - {}){}\n",
        label, p.a, p.b, p.relation, format_ns(p.one_way_ns_p50), format_ns(p.one_way_ns_p99),
        format_spread(p.one_way_ns_p50_spread, "ns"), format_ns(p.round_min_ns),
        format_ns(p.round_max_ns),
        p.unstable()
            ? fmt::format("  UNSTABLE: spread {} of the median",
                          format_percent(p.one_way_ns_p50_spread.relative(p.one_way_ns_p50)))
            : std::string());
  };
  if (fast) out += line("fastest pair:", *fast);
  if (slow) out += line("slowest pair:", *slow);
  if (m.pairs.size() == 1) out += "(one pair only: fastest and slowest are the same pair)\n";
  std::size_t unstable = 0;
  for (const auto& p : m.pairs) unstable += p.unstable() ? 1 : 0;
  if (unstable != 0) {
    out += fmt::format(
        "{} of {} pairs unstable: their per-round medians spread over more than {} of the median "
        "(p25-p75); the vCPUs probably moved during the run\n",
        unstable, m.pairs.size(), format_percent(kUnstableSpread));
  }
  return out;
}

}  // namespace ringpool::report
