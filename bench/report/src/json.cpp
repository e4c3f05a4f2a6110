#include "ringpool/report/json.hpp"

#include <fstream>
#include <iostream>

#include "ringpool/report/errors.hpp"
#include "ringpool/report/format.hpp"

namespace ringpool::report {
namespace {

nlohmann::json opt(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// {"p25", "p75", "relative": (p75 - p25) / median, "unstable", "rounds": [per-round values]},
// or null when the figure has no per-round values.
nlohmann::json spread_json(const Spread& s, double median) {
  if (s.empty()) return nullptr;
  return {{"p25", s.p25},
          {"p75", s.p75},
          {"relative", s.relative(median)},
          {"unstable", s.unstable(median)},
          {"rounds", s.rounds}};
}

nlohmann::json to_json(const Figure& f) {
  return {{"system", f.system}, {"label", display_name(f.system)},
          {"value", f.value},   {"unit", f.unit},
          {"cpus", f.cpus},     {"spread", spread_json(f.spread, f.value)}};
}

nlohmann::json to_json(const Comparison& c) {
  return {{"section", c.section},
          {"what", c.what},
          {"ours", to_json(c.ours)},
          {"peer", to_json(c.peer)},
          {"higher_is_better", c.higher_is_better},
          {"ratio", c.ratio},
          {"ratio_spread", spread_json(c.ratio_spread, c.ratio)},
          {"speedup", c.speedup},
          {"speedup_spread", spread_json(c.speedup_spread, c.speedup)},
          {"verdict", verdict(c)},
          {"verdict_spread", verdict_spread(c)},
          {"unstable", c.unstable()}};
}

nlohmann::json to_json(const Target& t) {
  return {{"name", t.name},
          {"section", t.section},
          {"relation", t.relation},
          {"threshold", t.threshold},
          {"unit", t.unit},
          {"value", opt(t.value)},
          {"spread", spread_json(t.spread, t.value.value_or(0.0))},
          {"status", to_string(t.status)},
          {"met", t.met()}};
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
    rows.push_back(
        {{"transport", row.transport},
         {"label", display_name(row.transport)},
         {"item_bytes", row.item_bytes},
         {"batch", row.batch},
         {"items_per_s", row.items_per_s},
         {"items_per_s_spread", spread_json(row.items_per_s_spread, row.items_per_s)},
         {"rtt_ns_p50", opt(row.rtt_ns_p50)},
         {"rtt_ns_p50_spread", spread_json(row.rtt_ns_p50_spread, row.rtt_ns_p50.value_or(0.0))},
         {"rtt_ns_p99", opt(row.rtt_ns_p99)},
         {"unstable", row.unstable()}});
  }
  return {{"pair", to_json(r.pair)}, {"rounds", r.rounds}, {"rows", rows}};
}

nlohmann::json to_json(const MpmcSection& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : m.rows) {
    rows.push_back(
        {{"producers", row.producers},
         {"consumers", row.consumers},
         {"cores", row.cores()},
         {"cpus", row.cpus},
         {"ringpool_items_per_s", row.ringpool_items_per_s},
         {"ringpool_items_per_s_spread",
          spread_json(row.ringpool_spread, row.ringpool_items_per_s)},
         {"ringpool_items_per_s_per_core", row.ringpool_per_core()},
         {"boost_items_per_s", row.boost_items_per_s},
         {"boost_items_per_s_spread", spread_json(row.boost_spread, row.boost_items_per_s)},
         {"boost_items_per_s_per_core", row.boost_per_core()},
         {"unstable", row.unstable()}});
  }
  return {{"rounds", m.rounds}, {"item_bytes", m.item_bytes}, {"rows", rows}};
}

nlohmann::json to_json(const PoolSection& p) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : p.rows) {
    rows.push_back({{"system", row.system},
                    {"case", row.name},
                    {"label", row.label},
                    {"value", row.value},
                    {"unit", row.unit},
                    {"spread", spread_json(row.spread, row.value)},
                    {"unstable", row.unstable()}});
  }
  return {{"rounds", p.rounds}, {"rows", rows}};
}

// Rows as `ringpool bench payload --json` has them, plus the spread; a case that did not run
// has "value": null, "missing" (its error) and "unsupported".
nlohmann::json to_json(const PayloadSection& p) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : p.rows) {
    rows.push_back({{"system", row.system},
                    {"case", row.name},
                    {"label", row.label},
                    {"bytes", row.bytes},
                    {"value", opt(row.value)},
                    {"unit", row.unit},
                    {"spread", spread_json(row.spread, row.value.value_or(0.0))},
                    {"unstable", row.unstable()},
                    {"missing", row.value ? nlohmann::json(nullptr) : nlohmann::json(row.missing)},
                    {"unsupported", row.unsupported}});
  }
  nlohmann::json comparisons = nlohmann::json::array();
  for (const auto& c : p.comparisons) comparisons.push_back(to_json(c));
  return {{"rounds", p.rounds},
          {"large_rounds", p.large_rounds},
          {"cpus", p.cpus},
          {"wait", p.wait},
          {"python", p.python},
          {"python_note", p.python_note},
          {"sizes", p.sizes},
          {"rows", rows},
          {"comparisons", comparisons}};
}

}  // namespace

nlohmann::json to_json(const MachineInfo& m) {
  return {{"hostname", m.hostname},
          {"cpu_model", m.cpu_model},
          {"cpu_vendor", m.cpu_vendor},
          {"cpu_brand", m.cpu_brand},
          {"cpu_family_model", m.cpu_family_model},
          {"kernel", m.kernel},
          {"online_cpus", m.online_cpus},
          {"hypervisor", m.hypervisor},
          {"hypervisor_source", m.hypervisor_source},
          {"compiler", m.compiler},
          {"build_type", m.build_type},
          {"ringpool_version", m.ringpool_version},
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
    pairs.push_back(
        {{"cpus", {p.a, p.b}},
         {"relation", p.relation},
         {"one_way_ns_p50", p.one_way_ns_p50},
         {"one_way_ns_p99", p.one_way_ns_p99},
         {"one_way_ns_p50_spread", spread_json(p.one_way_ns_p50_spread, p.one_way_ns_p50)},
         {"round_min_ns", p.round_min_ns},
         {"round_max_ns", p.round_max_ns},
         {"unstable", p.unstable()}});
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
                        {"elapsed_s", r.elapsed_s},
                        {"unstable_spread", kUnstableSpread}};
  if (r.topology) out["topology"] = to_json(*r.topology);
  if (r.rings) out["rings"] = to_json(*r.rings);
  if (r.mpmc) out["mpmc"] = to_json(*r.mpmc);
  if (r.pool) out["pool"] = to_json(*r.pool);
  if (r.payload) out["payload"] = to_json(*r.payload);
  if (r.c2c) out["c2c"] = to_json(*r.c2c);
  nlohmann::json comparisons = nlohmann::json::array();
  for (const auto& c : r.comparisons) comparisons.push_back(to_json(c));
  out["comparisons"] = comparisons;
  nlohmann::json targets = nlohmann::json::array();
  for (const auto& t : r.targets) targets.push_back(to_json(t));
  out["targets"] = targets;
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
