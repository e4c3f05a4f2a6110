// ringpool bench cluster: cluster::Pool across MPI ranks, run under mpirun (every rank runs
// this command; ranks 1.. serve inside cluster::init). Tasks/s of map (chunksize 1000 and 1)
// and imap_unordered (chunksize 1) with 1, 2, ... ranks; the submit().get() round trip to a
// remote rank beside the echo round trip of its serving loop (the transport and both
// progress loops, without the rank's pool); cluster::Pool with one rank against pool::Pool
// with the same workers, in interleaved rounds.
// --peer FILE adds the rows of bench/cluster/mpi4py_bench.py (mpi4py.futures
// MPIPoolExecutor on the same ranks) and the ratios the targets ask for.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "json_output.hpp"
#include "numbers.hpp"
#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/detail/diagnostics.hpp"
#include "ringpool/cluster/pool.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/report/format.hpp"
#include "ringpool/report/html.hpp"

namespace {

int bench_cluster_noop(int x) {
  return x;
}

}  // namespace

RINGPOOL_TASK(bench_cluster_noop);

namespace ringpool::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchClusterArgs {
  JsonOutput json;
  bool quick = false;
  std::size_t rounds = 3;
  std::string peer;
  std::vector<std::string> cases;  // empty: all
  std::string merge_into;
  std::string merge_html;  // a page of `ringpool bench --html`
  std::string merge_text;  // the text `ringpool bench` printed
  [[nodiscard]] bool runs(const std::string& name) const {
    return cases.empty() || std::find(cases.begin(), cases.end(), name) != cases.end();
  }
};

struct Row {
  std::string system;
  std::string kase;
  std::size_t ranks = 0;
  double value = 0;
  std::string unit;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int> inputs(std::size_t n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Best of `rounds` after one round not counted (`warm_up`, as the peer script: the pool's
// dispatcher has then measured every rank's pace on this work): tasks/s of one map /
// imap_unordered.
template <class P>
double map_rate(P& pool, std::size_t n, std::size_t chunksize, std::size_t rounds,
                bool warm_up = true) {
  const auto in = inputs(n);
  double best = 0;
  const std::size_t first = warm_up ? 1 : 0;
  for (std::size_t r = 0; r < rounds + first; ++r) {
    const auto start = Clock::now();
    const auto out = pool.map(bench_cluster_noop, in, chunksize);
    const double took = seconds_since(start);
    if (out != in) throw std::runtime_error("ringpool bench cluster: map gave wrong results");
    if (r >= first) best = std::max(best, static_cast<double>(n) / took);
  }
  return best;
}

double imap_unordered_rate(cluster::Pool& pool, std::size_t n, std::size_t rounds) {
  const auto in = inputs(n);
  double best = 0;
  for (std::size_t r = 0; r <= rounds; ++r) {
    const auto start = Clock::now();
    long long sum = 0;
    std::size_t count = 0;
    for (const int v : pool.imap_unordered(bench_cluster_noop, in, 1)) {
      sum += v;
      ++count;
    }
    const double took = seconds_since(start);
    if (count != n || sum != static_cast<long long>(n) * static_cast<long long>(n - 1) / 2) {
      throw std::runtime_error("ringpool bench cluster: imap_unordered gave wrong results");
    }
    if (r > 0) best = std::max(best, static_cast<double>(n) / took);
  }
  return best;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// Median microseconds of submit().get() to rank 1 (rank 0 only coordinates).
double round_trip_us(pool::WaitMode wait, std::size_t samples) {
  cluster::PoolOptions o;
  o.ranks = 2;
  o.local = false;
  o.wait = wait;
  o.workers_per_rank = 1;
  cluster::Pool pool(o);
  for (int i = 0; i < 200; ++i) (void)pool.apply(bench_cluster_noop, i);
  std::vector<double> us;
  us.reserve(samples);
  for (std::size_t i = 0; i < samples; ++i) {
    const auto start = Clock::now();
    if (pool.apply(bench_cluster_noop, static_cast<int>(i)) != static_cast<int>(i)) {
      throw std::runtime_error("ringpool bench cluster: wrong round-trip result");
    }
    us.push_back(seconds_since(start) * 1e6);
  }
  return median(std::move(us));
}

// cluster::Pool with rank 0 alone against pool::Pool with the same number of workers, the
// same map (no-op, chunksize 1000, `n` items) in interleaved rounds after a warm-up of
// both, so that both see the same state of the machine; the ratio is the median of the
// per-round ratios.
void one_rank_overhead(std::size_t n, std::size_t rounds, std::vector<Row>& rows) {
  cluster::PoolOptions o;
  o.ranks = 1;
  cluster::Pool one(o);
  pool::PoolOptions lo;
  lo.workers = one.workers();
  pool::Pool local(lo);
  const auto in = inputs(n);
  for (int k = 0; k < 3; ++k) {
    (void)one.map(bench_cluster_noop, in, 1000);
    (void)local.map(bench_cluster_noop, in, 1000);
  }
  std::vector<double> ours, theirs, ratios;
  for (std::size_t r = 0; r < rounds; ++r) {
    const bool cluster_first = r % 2 == 0;
    double a = 0, b = 0;
    for (int k = 0; k < 2; ++k) {
      if ((k == 0) == cluster_first) {
        a = map_rate(one, n, 1000, 1, false);
      } else {
        b = map_rate(local, n, 1000, 1, false);
      }
    }
    ours.push_back(a);
    theirs.push_back(b);
    ratios.push_back(a / b);
  }
  const std::string kase = "map chunksize 1000, interleaved (" + std::to_string(one.workers()) +
                           " workers, " + std::to_string(n) + " tasks)";
  rows.push_back({"ringpool-cluster", kase, 1, median(ours), "tasks/s"});
  rows.push_back({"ringpool-pool", kase, 1, median(theirs), "tasks/s"});
  rows.push_back({"ringpool-cluster", "1 rank / pool::Pool, median of per-round ratios", 1,
                  median(ratios), "x"});
}

std::vector<Row> read_peer(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("ringpool bench cluster: cannot read --peer file " + file);
  const auto doc = nlohmann::json::parse(in);
  std::vector<Row> rows;
  for (const auto& r : doc) {
    rows.push_back(Row{r.at("system").get<std::string>(), r.at("case").get<std::string>(),
                       r.at("ranks").get<std::size_t>(), r.at("value").get<double>(),
                       r.at("unit").get<std::string>()});
  }
  return rows;
}

const Row* find(const std::vector<Row>& rows, const std::string& system, const std::string& kase,
                std::size_t ranks) {
  for (const auto& r : rows) {
    if (r.system == system && r.kase == kase && r.ranks == ranks) return &r;
  }
  return nullptr;
}

std::string format_value(const Row& r) {
  char buf[64];
  if (r.unit == "us") {
    std::snprintf(buf, sizeof buf, "%.1f us", r.value);
  } else if (r.unit == "x") {
    std::snprintf(buf, sizeof buf, "%.2fx", r.value);
  } else if (r.value >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M %s", r.value / 1e6, r.unit.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%.1f k %s", r.value / 1e3, r.unit.c_str());
  }
  return buf;
}

// One of issue #13's targets, as the report's targets are written ({name, section,
// relation, threshold, unit, value, status, met}); not_measured without the rows it needs.
struct Target {
  std::string name;
  std::string relation;  // ">=" or "<="
  double threshold = 0;
  std::string unit;  // "x" for a ratio ours / peer, "us" for a round trip
  std::optional<double> value;
  [[nodiscard]] const char* status() const {
    if (!value) return "not_measured";
    const bool met = relation == ">=" ? *value >= threshold : *value <= threshold;
    return met ? "met" : "missed";
  }
};

std::vector<Target> targets(const std::vector<Row>& rows, std::size_t world) {
  std::vector<Target> out;
  const auto ratio = [&](const Row* a, const Row* b) -> std::optional<double> {
    if (a == nullptr || b == nullptr || b->value <= 0) return std::nullopt;
    return a->value / b->value;
  };
  out.push_back({"cluster map chunksize 1000, " + std::to_string(world) +
                     " ranks >= 10x MPIPoolExecutor.map on the same ranks",
                 ">=", 10, "x",
                 ratio(find(rows, "ringpool-cluster", "map chunksize 1000", world),
                       find(rows, "mpi4py-futures", "map chunksize 1000", world))});
  out.push_back({"cluster imap_unordered chunksize 1 >= 50x MPIPoolExecutor.map chunksize 1",
                 ">=", 50, "x",
                 ratio(find(rows, "ringpool-cluster", "imap_unordered chunksize 1", world),
                       find(rows, "mpi4py-futures", "map chunksize 1", world))});
  // The figure: 1/20 of the 387 us MPIPoolExecutor's submit().result() took on this
  // machine (its row from --peer, when given, is printed beside ours but moves the goal not).
  const double rt_goal = 387.0 / 20;
  const Row* rt = find(rows, "ringpool-cluster", "submit round trip (remote rank), spin", 2);
  out.push_back(
      {"cluster submit().get() round trip to a remote rank (spin) <= 1/20 of "
       "MPIPoolExecutor's 387 us",
       "<=", rt_goal, "us", rt != nullptr ? std::optional<double>(rt->value) : std::nullopt});
  const Row* one =
      find(rows, "ringpool-cluster", "1 rank / pool::Pool, median of per-round ratios", 1);
  out.push_back({"cluster::Pool with 1 rank >= 0.8x pool::Pool with the same workers (map)", ">=",
                 0.8, "x", one != nullptr ? std::optional<double>(one->value) : std::nullopt});
  return out;
}

std::string format_report(const std::vector<Row>& rows, std::size_t world) {
  std::ostringstream out;
  out << "Cluster (cluster::Pool over MPI, " << world << " rank(s) of this job";
  const auto& info = cluster::ranks();
  out << "; rank 0 on " << info[0].host << ", " << info[0].machine << ")\n";
  for (const auto& r : rows) {
    char line[200];
    std::snprintf(line, sizeof line, "  %-16s %-34s ranks %zu  %s\n", r.system.c_str(),
                  r.kase.c_str(), r.ranks, format_value(r).c_str());
    out << line;
  }
  for (const auto& t : targets(rows, world)) {
    char line[240];
    if (t.value) {
      std::snprintf(line, sizeof line, "  target: %s %s %.3g %s: %.3g %s, %s\n", t.name.c_str(),
                    t.relation.c_str(), t.threshold, t.unit.c_str(), *t.value, t.unit.c_str(),
                    t.status());
    } else {
      std::snprintf(line, sizeof line, "  target: %s: not measured%s\n", t.name.c_str(),
                    t.unit == "x" && t.name.find("MPIPoolExecutor") != std::string::npos
                        ? " (no --peer rows)"
                        : "");
    }
    out << line;
  }
  return out.str();
}

// Puts the rows and targets into a report written by `ringpool bench --json-file FILE`
// (format ringpool-report-1): a "cluster" object, and the targets (section "cluster") in its
// "targets" array, replacing those of an earlier merge.
void merge_into_report(const std::string& file, const std::vector<Row>& rows, std::size_t world,
                       const std::string& command) {
  nlohmann::json doc;
  {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("ringpool bench cluster: cannot read --merge-into " + file);
    doc = nlohmann::json::parse(in);
  }
  if (!doc.is_object() || doc.value("format", std::string()) != "ringpool-report-1") {
    throw std::runtime_error("ringpool bench cluster: " + file +
                             " is not a report of `ringpool bench --json-file` "
                             "(format ringpool-report-1)");
  }
  nlohmann::json section = {{"command", command}, {"ranks", world}};
  nlohmann::json jrows = nlohmann::json::array();
  for (const auto& r : rows) {
    jrows.push_back({{"system", r.system},
                     {"case", r.kase},
                     {"ranks", r.ranks},
                     {"value", r.value},
                     {"unit", r.unit}});
  }
  section["rows"] = jrows;
  doc["cluster"] = section;
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& t : doc.value("targets", nlohmann::json::array())) {
    if (t.value("section", std::string()) != "cluster") kept.push_back(t);
  }
  for (const auto& t : targets(rows, world)) {
    kept.push_back({{"name", t.name},
                    {"section", "cluster"},
                    {"relation", t.relation},
                    {"threshold", t.threshold},
                    {"unit", t.unit},
                    {"value", t.value ? nlohmann::json(*t.value) : nlohmann::json()},
                    {"spread", nullptr},
                    {"status", t.status()},
                    {"met", std::string(t.status()) == "met"}});
  }
  doc["targets"] = kept;
  std::ofstream out(file);
  out << doc.dump(2) << '\n';
  if (!out) throw std::runtime_error("ringpool bench cluster: cannot write " + file);
}

std::string read_whole(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("ringpool bench cluster: cannot read " + file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The report page's section of these rows and targets (replaced by a later merge).
std::string html_section(const std::vector<Row>& rows, std::size_t world) {
  using report::xml_escape;
  std::ostringstream out;
  out << "<section id=\"cluster\">\n<h2>Across MPI ranks</h2>\n<p class=\"sub\">"
      << "<code>ringpool bench cluster</code> under <code>mpirun</code>, " << world
      << " rank(s) of its job; rank 0 on " << xml_escape(cluster::ranks()[0].host) << ", "
      << xml_escape(cluster::ranks()[0].machine) << "</p>\n"
      << "<table><tr><th>System</th><th>Case</th><th>Ranks</th><th>Value</th></tr>\n";
  for (const auto& r : rows) {
    out << "<tr><td>" << xml_escape(r.system) << "</td><td>" << xml_escape(r.kase)
        << "</td><td class=\"num\">" << r.ranks << "</td><td class=\"num\" data-value=\"" << r.value
        << "\">" << xml_escape(format_value(r)) << "</td></tr>\n";
  }
  out << "</table>\n<table><tr><th>Target</th><th>Goal</th><th>Value</th><th>Status</th></tr>\n";
  for (const auto& t : targets(rows, world)) {
    char goal[64];
    std::snprintf(goal, sizeof goal, "%s %.3g %s", t.relation.c_str(), t.threshold, t.unit.c_str());
    char value[64] = "";
    if (t.value) std::snprintf(value, sizeof value, "%.3g %s", *t.value, t.unit.c_str());
    out << "<tr><td>" << xml_escape(t.name) << "</td><td>" << xml_escape(goal)
        << "</td><td class=\"num\">" << xml_escape(value) << "</td><td>" << t.status()
        << "</td></tr>\n";
  }
  out << "</table>\n</section>\n";
  return out.str();
}

// Puts the section into a page of `ringpool bench --html`: in place of an earlier one, or
// before the page's closing note (or </body>).
void merge_into_html(const std::string& file, const std::vector<Row>& rows, std::size_t world) {
  constexpr std::string_view kOpen = "<section id=\"cluster\">";
  constexpr std::string_view kClose = "</section>\n";
  std::string page = read_whole(file);
  const std::string section = html_section(rows, world);
  const auto begin = page.find(kOpen);
  if (begin != std::string::npos) {
    const auto end = page.find(kClose, begin);
    if (end == std::string::npos) {
      throw std::runtime_error("ringpool bench cluster: " + file +
                               " has an unterminated cluster section");
    }
    page.replace(begin, end + kClose.size() - begin, section);
  } else {
    auto at = page.rfind("<p class=\"sub\">Generated by");
    if (at == std::string::npos) at = page.rfind("</body>");
    if (at == std::string::npos) {
      throw std::runtime_error("ringpool bench cluster: " + file +
                               " is not a page of `ringpool bench --html` (no </body>)");
    }
    page.insert(at, section);
  }
  report::write_text_file(file, page);
}

// Appends the text block to the report `ringpool bench` printed, in place of an earlier one
// (always the file's last block, after this marker).
void merge_into_text(const std::string& file, const std::vector<Row>& rows, std::size_t world) {
  constexpr std::string_view kMarker = "== ringpool bench cluster (merged) ==\n";
  std::string text = read_whole(file);
  if (const auto at = text.find(kMarker); at != std::string::npos) text.erase(at);
  while (text.size() >= 2 && text.ends_with("\n\n")) text.pop_back();
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += "\n";
  text += kMarker;
  text += format_report(rows, world);
  report::write_text_file(file, text);
}

void run_bench_cluster(const BenchClusterArgs& args) {
  static char name[] = "ringpool";
  char* argv[] = {name, nullptr};
  cluster::init(1, argv);  // ranks 1.. serve here and exit when rank 0 is done
  args.json.check();
  const std::size_t world = cluster::world_size();
  const std::size_t rounds = args.quick ? 1 : args.rounds;
  const std::size_t n_map = args.quick ? 10000 : 100000;
  const std::size_t n_small = args.quick ? 1000 : 10000;
  const std::size_t n_imap = args.quick ? 2000 : 20000;
  std::vector<Row> rows;
  for (std::size_t ranks = 1; ranks <= world && args.runs("scaling"); ++ranks) {
    cluster::PoolOptions o;
    o.ranks = ranks;
    cluster::Pool pool(o);
    (void)pool.map(bench_cluster_noop, inputs(1000), 10);  // every rank's workers are up
    rows.push_back({"ringpool-cluster", "map chunksize 1000", ranks,
                    map_rate(pool, n_map, 1000, rounds), "tasks/s"});
    rows.push_back({"ringpool-cluster", "map chunksize 1", ranks,
                    map_rate(pool, n_small, 1, rounds), "tasks/s"});
    rows.push_back({"ringpool-cluster", "imap_unordered chunksize 1", ranks,
                    imap_unordered_rate(pool, n_imap, rounds), "tasks/s"});
  }
  if (args.runs("overhead")) {
    one_rank_overhead(args.quick ? 20000 : 1000000,
                      args.quick ? 3 : std::max<std::size_t>(rounds, 7), rows);
  }
  if (world >= 2 && args.runs("round-trip")) {
    const std::size_t samples = args.quick ? 200 : 2000;
    rows.push_back({"ringpool-cluster", "echo round trip (remote rank's serving loop, no pool)", 2,
                    median(cluster::detail::echo_round_trips_us(1, samples)), "us"});
    rows.push_back({"ringpool-cluster", "submit round trip (remote rank), spin", 2,
                    round_trip_us(pool::WaitMode::spin, samples), "us"});
    rows.push_back({"ringpool-cluster", "submit round trip (remote rank), block", 2,
                    round_trip_us(pool::WaitMode::block, samples), "us"});
  }
  if (!args.peer.empty()) {
    for (auto& r : read_peer(args.peer)) rows.push_back(std::move(r));
  }
  if (!args.json.on_stdout()) std::cout << format_report(rows, world) << std::flush;
  nlohmann::json doc = nlohmann::json::array();
  for (const auto& r : rows) {
    doc.push_back({{"system", r.system},
                   {"case", r.kase},
                   {"ranks", r.ranks},
                   {"value", r.value},
                   {"unit", r.unit}});
  }
  args.json.write(doc);
  if (!args.merge_into.empty()) {
    merge_into_report(args.merge_into, rows, world, "ringpool bench cluster");
    if (!args.json.on_stdout()) {
      std::cout << "cluster rows and targets merged into " << args.merge_into << "\n";
    }
  }
  if (!args.merge_html.empty()) {
    merge_into_html(args.merge_html, rows, world);
    if (!args.json.on_stdout())
      std::cout << "cluster section merged into " << args.merge_html << "\n";
  }
  if (!args.merge_text.empty()) {
    merge_into_text(args.merge_text, rows, world);
    if (!args.json.on_stdout())
      std::cout << "cluster section merged into " << args.merge_text << "\n";
  }
}

}  // namespace

void add_bench_cluster_command(CLI::App& bench) {
  auto args = std::make_shared<BenchClusterArgs>();
  auto* cmd = bench.add_subcommand(
      "cluster",
      "cluster::Pool across MPI ranks (run under mpirun): map and imap_unordered tasks/s with 1.."
      "N ranks, the round trip to a remote rank, the one-rank overhead; --peer adds "
      "mpi4py.futures rows from bench/cluster/mpi4py_bench.py");
  args->json.add_options(*cmd, "one array of {system, case, ranks, value, unit}");
  cmd->add_option("--rounds", args->rounds, "Rounds per case; the best is reported")
      ->check(integer_in(1, 1000))
      ->capture_default_str();
  cmd->add_option(
         "--case", args->cases,
         "Only these cases (repeatable): scaling (map and imap_unordered with 1..N ranks), "
         "overhead (1 rank vs pool::Pool), round-trip (echo and submit().get() to rank 1)")
      ->check(CLI::IsMember({"scaling", "overhead", "round-trip"}));
  cmd->add_option("--merge-into", args->merge_into,
                  "Also put the rows and targets into FILE, a report written by `ringpool bench "
                  "--json-file FILE` (its \"cluster\" object and \"targets\" of section cluster)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  cmd->add_option("--merge-html", args->merge_html,
                  "Also put a cluster section (rows and targets) into FILE, a page written by "
                  "`ringpool bench --html FILE` (replacing one an earlier merge put there)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  cmd->add_option("--merge-text", args->merge_text,
                  "Also append the rows and targets to FILE, the text `ringpool bench` printed "
                  "(replacing what an earlier merge appended)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--quick", args->quick, "Small sizes and one round (seconds; for tests)");
  cmd->add_option("--peer", args->peer,
                  "JSON rows of bench/cluster/mpi4py_bench.py to print beside ours, with the "
                  "target ratios")
      ->type_name("FILE");
  cmd->callback([args] { run_bench_cluster(*args); });
}

}  // namespace ringpool::cli
