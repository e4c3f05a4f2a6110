#include "ringpool/report/json.hpp"

#include <fstream>
#include <iostream>

#include "ringpool/report/errors.hpp"

namespace ringpool::report {
namespace {

nlohmann::json opt(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json to_json(const Figure& f) {
  return {{"system", f.system}, {"value", f.value}, {"unit", f.unit}, {"cpus", f.cpus}};
}

nlohmann::json to_json(const Comparison& c) {
  return {{"section", c.section},
          {"what", c.what},
          {"ours", to_json(c.ours)},
          {"peer", to_json(c.peer)},
          {"higher_is_better", c.higher_is_better},
          {"ratio", c.ratio},
          {"speedup", c.speedup}};
}

nlohmann::json to_json(const CorePair& p) {
  return {{"cpus", {p.a, p.b}}, {"relation", p.relation}, {"why", p.why}};
}

nlohmann::json to_json(const TopologySummary& t) {
  nlohmann::json plans = nlohmann::json::array();
  for (const auto& p : t.plans) {
    plans.push_back({{"tasks", p.tasks},
                     {"mode", p.mode},
                     {"workers", p.workers},
                     {"policy", p.policy},
                     {"cpus", p.worker_cpus},
                     {"explain", p.explain}});
  }
  return {{"usable_cpus", t.usable_cpus},
          {"usable_cores", t.usable_cores},
          {"quota_cores", opt(t.quota_cores)},
          {"reasons", t.reasons},
          {"packages", t.packages},
          {"numa_nodes", t.numa_nodes},
          {"l3_groups", t.l3_groups},
          {"cores", t.cores},
          {"pus", t.pus},
          {"plans", plans}};
}

nlohmann::json to_json(const RingSection& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : r.rows) {
    rows.push_back({{"transport", row.transport},
                    {"item_bytes", row.item_bytes},
                    {"batch", row.batch},
                    {"items_per_s", row.items_per_s},
                    {"rtt_ns_p50", opt(row.rtt_ns_p50)},
                    {"rtt_ns_p99", opt(row.rtt_ns_p99)}});
  }
  return {{"pair", to_json(r.pair)}, {"rounds", r.rounds}, {"rows", rows}};
}

nlohmann::json to_json(const MpmcSection& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : m.rows) {
    rows.push_back({{"producers", row.producers},
                    {"consumers", row.consumers},
                    {"cores", row.cores()},
                    {"cpus", row.cpus},
                    {"ringpool_items_per_s", row.ringpool_items_per_s},
                    {"ringpool_items_per_s_per_core", row.ringpool_per_core()},
                    {"boost_items_per_s", row.boost_items_per_s},
                    {"boost_items_per_s_per_core", row.boost_per_core()}});
  }
  return {{"rounds", m.rounds}, {"item_bytes", m.item_bytes}, {"rows", rows}};
}

nlohmann::json to_json(const PoolSection& p) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : p.rows) {
    rows.push_back(
        {{"system", row.system}, {"case", row.name}, {"value", row.value}, {"unit", row.unit}});
  }
  return {{"rounds", p.rounds}, {"rows", rows}};
}

}  // namespace

nlohmann::json to_json(const MachineInfo& m) {
  return {{"hostname", m.hostname},     {"cpu_model", m.cpu_model},
          {"kernel", m.kernel},         {"online_cpus", m.online_cpus},
          {"hypervisor", m.hypervisor}, {"compiler", m.compiler},
          {"build_type", m.build_type}, {"ringpool_version", m.ringpool_version},
          {"date_utc", m.date_utc}};
}

nlohmann::json to_json(const C2cMatrix& m) {
  // matrix_ns_p50[i][j]: one-way latency between cpus[i] and cpus[j]; null on the diagonal.
  nlohmann::json matrix = nlohmann::json::array();
  for (unsigned a : m.cpus) {
    nlohmann::json row = nlohmann::json::array();
    for (unsigned b : m.cpus) {
      const C2cPair* p = m.find(a, b);
      row.push_back(p ? nlohmann::json(p->one_way_ns_p50) : nlohmann::json(nullptr));
    }
    matrix.push_back(row);
  }
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& p : m.pairs) {
    pairs.push_back({{"cpus", {p.a, p.b}},
                     {"relation", p.relation},
                     {"one_way_ns_p50", p.one_way_ns_p50},
                     {"one_way_ns_p99", p.one_way_ns_p99},
                     {"round_min_ns", p.round_min_ns},
                     {"round_max_ns", p.round_max_ns}});
  }
  nlohmann::json out = {{"cpus", m.cpus},
                        {"rounds", m.rounds},
                        {"round_trips_per_trial", m.round_trips_per_trial},
                        {"matrix_ns_p50", matrix},
                        {"pairs", pairs}};
  auto named = [](const C2cPair* p) {
    return p ? nlohmann::json{{"cpus", {p->a, p->b}},
                              {"relation", p->relation},
                              {"one_way_ns_p50", p->one_way_ns_p50}}
             : nlohmann::json(nullptr);
  };
  out["fastest"] = named(m.fastest());
  out["slowest"] = named(m.slowest());
  return out;
}

nlohmann::json to_json(const TuneResult& t) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const auto& c : t.candidates) {
    candidates.push_back({{"kind", c.kind},
                          {"relation", c.relation},
                          {"cpus", c.cpus},
                          {"rtt_ns_p50", opt(c.rtt_ns_p50)},
                          {"rtt_ns_p99", opt(c.rtt_ns_p99)},
                          {"items_per_s", opt(c.items_per_s)},
                          {"note", c.note}});
  }
  return {{"rounds", t.rounds},
          {"workers", t.workers},
          {"candidates", candidates},
          {"notes", t.notes},
          {"recommended_policy", t.recommended_policy},
          {"recommended_cpus", t.recommended_cpus},
          {"recommendation", t.recommendation}};
}

nlohmann::json to_json(const Report& r) {
  nlohmann::json out = {{"format", kReportFormat},
                        {"ringpool_version", r.machine.ringpool_version},
                        {"machine", to_json(r.machine)},
                        {"command", r.command},
                        {"rounds", r.rounds},
                        {"quick", r.quick},
                        {"elapsed_s", r.elapsed_s}};
  if (r.topology) out["topology"] = to_json(*r.topology);
  if (r.rings) out["rings"] = to_json(*r.rings);
  if (r.mpmc) out["mpmc"] = to_json(*r.mpmc);
  if (r.pool) out["pool"] = to_json(*r.pool);
  if (r.c2c) out["c2c"] = to_json(*r.c2c);
  nlohmann::json comparisons = nlohmann::json::array();
  for (const auto& c : r.comparisons) comparisons.push_back(to_json(c));
  out["comparisons"] = comparisons;
  nlohmann::json omitted = nlohmann::json::array();
  for (const auto& o : r.omitted) omitted.push_back({{"section", o.section}, {"reason", o.reason}});
  out["omitted"] = omitted;
  return out;
}

void write_json(const nlohmann::json& doc, const std::string& path) {
  if (path == "-") {
    std::cout << doc.dump(2) << '\n';
    return;
  }
  std::ofstream out(path);
  out << doc.dump(2) << '\n';
  if (!out) {
    throw ReportError(ReportErrc::io, "cannot write JSON to '" + path +
                                          "': check that the directory exists and is writable");
  }
}

}  // namespace ringpool::report
