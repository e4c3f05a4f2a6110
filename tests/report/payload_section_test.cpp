// The payload section (`ringpool bench payload` and the report's section) over a hand-built
// model: its comparisons and the two targets of issue #9, and its text, JSON and HTML, with a
// size the build refuses shown as such. The numbers are test inputs, not measurements.
#include "ringpool/report/payload_section.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ringpool/report/html.hpp"
#include "ringpool/report/json.hpp"
#include "test_helpers.hpp"

namespace rr = ringpool::report;

namespace {
using ::ringpool::test::count_of;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t k16MiB = 16 * 1024 * 1024;
constexpr const char* kRefused =
    "ringpool: the encoded queue item is 16777216 bytes but a slot holds at most 1024 bytes; "
    "nothing was sent. <Create> the queue with a larger slot_size";

rr::PayloadRow row(const char* system, const char* name, std::size_t bytes, const char* unit,
                   std::vector<double> rounds) {
  rr::PayloadRow r;
  r.system = system;
  r.name = name;
  r.bytes = bytes;
  r.unit = unit;
  r.value = rounds[rounds.size() / 2];  // inputs are sorted: the middle one is the median
  r.spread = rr::spread_over_rounds(std::move(rounds));
  return r;
}

rr::PayloadRow missing(const char* system, const char* name, std::size_t bytes, const char* unit,
                       const std::string& error, bool unsupported) {
  rr::PayloadRow r;
  r.system = system;
  r.name = name;
  r.bytes = bytes;
  r.unit = unit;
  r.missing = error;
  r.unsupported = unsupported;
  return r;
}

// 1 KiB: every case measured but a new pool's first round trip. 16 MiB: the round trip
// measured (`rtt_16` ns per round), and a new pool's first, the ringpool stream refused by the
// build.
rr::PayloadSection sample(std::vector<double> rtt_16 = {5.8e6, 6.0e6, 6.2e6}) {
  rr::PayloadSection s;
  s.rounds = 3;
  s.large_rounds = 3;
  s.cpus = "0,1";
  s.wait = "spin";
  s.python = true;
  s.sizes = {kKiB, k16MiB};
  s.rows = {
      row("ringpool", "submit_get_echo", kKiB, "ns", {1900, 2000, 2100}),
      row("ringpool", "queue_stream", kKiB, "bytes/s", {0.9e9, 1.0e9, 1.1e9}),
      row("memcpy", "memcpy", kKiB, "ns", {19, 20, 21}),
      row("python-multiprocessing", "apply_async_get_echo", kKiB, "ns", {440e3, 450e3, 460e3}),
      row("python-multiprocessing", "queue_stream", kKiB, "bytes/s", {0.9e6, 1.0e6, 1.1e6}),
      row("python-multiprocessing", "shared_memory_stream", kKiB, "bytes/s", {0.9e5, 1e5, 1.1e5}),
      row("ringpool", "submit_get_echo", k16MiB, "ns", std::move(rtt_16)),
      row("ringpool", "submit_get_echo_first", k16MiB, "ns", {230e6, 233e6, 236e6}),
      missing("ringpool", "queue_stream", k16MiB, "bytes/s", kRefused, true),
      row("memcpy", "memcpy", k16MiB, "ns", {1.7e6, 1.8e6, 1.9e6}),
      row("python-multiprocessing", "apply_async_get_echo", k16MiB, "ns", {108e6, 109e6, 110e6}),
      row("python-multiprocessing", "queue_stream", k16MiB, "bytes/s", {0.9e8, 1e8, 1.1e8}),
      row("python-multiprocessing", "shared_memory_stream", k16MiB, "bytes/s", {1.9e8, 2e8, 2.1e8}),
  };
  rr::complete_payload_section(s);
  return s;
}

}  // namespace

TEST(PayloadSection, ComparesEachSizeWithItsPeersOnlyWhereBothFiguresExist) {
  const rr::PayloadSection s = sample();
  // 1 KiB: five comparisons; 16 MiB: the round trip's two (the stream was refused).
  EXPECT_EQ(s.comparisons.size(), 7U);
  using V = rr::PayloadVs;
  for (V vs : {V::python_apply_async, V::two_memcpy, V::python_queue, V::python_shared_memory,
               V::memcpy}) {
    EXPECT_NE(rr::find_payload_comparison(s, kKiB, vs), nullptr);
  }
  EXPECT_EQ(rr::find_payload_comparison(s, k16MiB, V::python_queue), nullptr);
  EXPECT_EQ(rr::find_payload_comparison(s, k16MiB, V::memcpy), nullptr);

  const rr::Comparison* py = rr::find_payload_comparison(s, k16MiB, V::python_apply_async);
  ASSERT_NE(py, nullptr);
  EXPECT_EQ(py->section, "payload");
  EXPECT_DOUBLE_EQ(py->ratio, 6.0e6 / 109e6);
  EXPECT_DOUBLE_EQ(py->speedup, 109e6 / 6.0e6);
  // Two memcpy's: the floor is twice memcpy's time, round by round.
  const rr::Comparison* floor = rr::find_payload_comparison(s, k16MiB, V::two_memcpy);
  ASSERT_NE(floor, nullptr);
  EXPECT_DOUBLE_EQ(floor->peer.value, 3.6e6);
  EXPECT_DOUBLE_EQ(floor->ratio, 6.0e6 / 3.6e6);
  ASSERT_EQ(floor->ratio_spread.rounds.size(), 3U);
  EXPECT_DOUBLE_EQ(floor->ratio_spread.rounds[0], 5.8e6 / 3.4e6);
  // The stream against memcpy's rate: bytes / memcpy's time, higher is better.
  const rr::Comparison* rate = rr::find_payload_comparison(s, kKiB, V::memcpy);
  ASSERT_NE(rate, nullptr);
  EXPECT_TRUE(rate->higher_is_better);
  EXPECT_DOUBLE_EQ(rate->peer.value, 1024.0 * 1e9 / 20.0);
  EXPECT_EQ(rate->peer.unit, "bytes/s");
  // Labels for readers on every row.
  for (const auto& r : s.rows) EXPECT_NE(r.label, r.name) << r.name;
}

TEST(PayloadSection, TargetsAreMetMissedOrNotMeasured) {
  // 18× faster than Python and 1.67× two memcpy's, over the whole p25-p75 range: both met.
  const rr::PayloadSection fast = sample();
  auto targets = rr::payload_targets(&fast);
  ASSERT_EQ(targets.size(), 2U);
  EXPECT_EQ(targets[0].relation, ">=");
  EXPECT_DOUBLE_EQ(targets[0].threshold, 10.0);
  EXPECT_DOUBLE_EQ(*targets[0].value, 109e6 / 6.0e6);
  EXPECT_EQ(targets[0].status, rr::Target::Status::met);
  EXPECT_EQ(targets[1].relation, "<=");
  EXPECT_DOUBLE_EQ(targets[1].threshold, 3.0);
  EXPECT_EQ(targets[1].status, rr::Target::Status::met);
  for (const auto& t : targets) EXPECT_EQ(t.section, "payload");

  // 40 ms: 2.7× faster than Python, 11× two memcpy's: both missed.
  const rr::PayloadSection slow = sample({39e6, 40e6, 41e6});
  targets = rr::payload_targets(&slow);
  EXPECT_EQ(targets[0].status, rr::Target::Status::missed);
  EXPECT_EQ(targets[1].status, rr::Target::Status::missed);

  // The median meets 10× but one quartile does not.
  const rr::PayloadSection crossing = sample({8.0e6, 10.0e6, 14.0e6});
  EXPECT_EQ(rr::payload_targets(&crossing)[0].status, rr::Target::Status::spread_crosses);

  // The build refuses 16 MiB: nothing to check, never "met".
  rr::PayloadSection refused = sample();
  for (auto& r : refused.rows) {
    if (r.system == "ringpool" && r.bytes == k16MiB)
      r = missing("ringpool", r.name.c_str(), k16MiB, r.unit.c_str(), kRefused, true);
  }
  rr::complete_payload_section(refused);
  for (const auto& t : rr::payload_targets(&refused)) {
    EXPECT_EQ(t.status, rr::Target::Status::not_measured) << t.name;
    EXPECT_FALSE(t.value.has_value());
  }
  for (const auto& t : rr::payload_targets(nullptr)) {
    EXPECT_EQ(t.status, rr::Target::Status::not_measured) << t.name;
  }
}

TEST(PayloadSection, FormatsSizesBandwidthsAndRanges) {
  EXPECT_EQ(rr::payload_size_label(8), "8 B");
  EXPECT_EQ(rr::payload_size_label(1024), "1 KiB");
  EXPECT_EQ(rr::payload_size_label(1536), "1.5 KiB");
  EXPECT_EQ(rr::payload_size_label(256U * 1024 * 1024), "256 MiB");
  EXPECT_EQ(rr::format_payload_value(1.23e9, "bytes/s"), "1.23 GB/s");
  EXPECT_EQ(rr::format_payload_value(837.0, "bytes/s"), "837 B/s");
  EXPECT_EQ(rr::format_payload_value(2000.0, "ns"), "2.00 µs");
  EXPECT_EQ(rr::format_payload_range(829.0, 844.0, "ns"), "829–844 ns");
  EXPECT_EQ(rr::format_payload_range(575e3, 1.12e6, "bytes/s"), "575 kB/s–1.12 MB/s");
}

TEST(PayloadSection, TextShowsFiguresRatiosTheRefusedSizeAndTheTargets) {
  const rr::PayloadSection s = sample();
  const std::string text = rr::format_payload_text(s, true);
  EXPECT_NE(text.find("caller on CPU 0, worker and consumer on CPU 1"), std::string::npos) << text;
  EXPECT_NE(text.find("16 MiB"), std::string::npos);
  EXPECT_NE(text.find("6.00 ms (5.90–6.10 ms)"), std::string::npos) << text;
  EXPECT_NE(text.find("18.2× faster"), std::string::npos) << text;  // 109 ms / 6 ms
  EXPECT_NE(text.find("3.60 ms"), std::string::npos) << text;       // 2 × memcpy
  EXPECT_NE(text.find("1.67× slower"), std::string::npos) << text;  // vs 2 × memcpy
  // A new pool's first round trip in its own column, compared with nothing.
  EXPECT_NE(text.find("new pool's first"), std::string::npos) << text;
  EXPECT_NE(text.find("233 ms (232–234 ms)"), std::string::npos) << text;
  // The refused stream: said so, with the error once, never a number.
  EXPECT_EQ(count_of(text, "not supported on this build [1]"), 1U) << text;
  EXPECT_NE(text.find(std::string("[1] ringpool queue_stream at 16 MiB: ") + kRefused),
            std::string::npos)
      << text;
  EXPECT_EQ(count_of(text, "[met]"), 2U) << text;
  EXPECT_EQ(rr::format_payload_text(s, false).find("targets (issue #9)"), std::string::npos);

  rr::PayloadSection failed = s;
  failed.rows[0] = missing("ringpool", "submit_get_echo", kKiB, "ns", "WorkerLost: killed", false);
  rr::complete_payload_section(failed);
  const std::string failed_text = rr::format_payload_text(failed, false);
  EXPECT_NE(failed_text.find("failed [1]"), std::string::npos) << failed_text;
  EXPECT_NE(failed_text.find("WorkerLost: killed"), std::string::npos);

  rr::PayloadSection no_python = s;
  no_python.python = false;
  no_python.python_note = "switched off";
  std::erase_if(no_python.rows, [](const rr::PayloadRow& r) {
    return r.system != "ringpool" && r.system != "memcpy";
  });
  rr::complete_payload_section(no_python);
  const std::string np = rr::format_payload_text(no_python, true);
  EXPECT_NE(np.find("Python multiprocessing not run: switched off"), std::string::npos) << np;
  EXPECT_EQ(np.find("ringpool vs Python"), std::string::npos) << np;
  EXPECT_EQ(np.find("Python Queue"), std::string::npos) << np;
  EXPECT_EQ(count_of(np, "[not measured]"), 1U) << np;  // the Python target; the floor is met
}

TEST(PayloadSection, BenchJsonRowsCarryNullAndTheErrorForARefusedSize) {
  const rr::PayloadSection s = sample();
  const nlohmann::json rows = rr::payload_rows_json(s);
  ASSERT_EQ(rows.size(), s.rows.size());
  std::size_t refused = 0;
  for (const auto& r : rows) {
    if (r.at("value").is_null()) {
      ++refused;
      EXPECT_EQ(r.at("system"), "ringpool");
      EXPECT_EQ(r.at("case"), "queue_stream");
      EXPECT_EQ(r.at("bytes"), k16MiB);
      EXPECT_EQ(r.at("error"), kRefused);
      EXPECT_EQ(r.at("unsupported"), true);
      continue;
    }
    std::set<std::string> keys;
    for (const auto& [k, v] : r.items()) keys.insert(k);
    EXPECT_EQ(keys, (std::set<std::string>{"system", "case", "bytes", "value", "unit"}))
        << r.dump();
    EXPECT_GT(r.at("value").get<double>(), 0.0);
  }
  EXPECT_EQ(refused, 1U);
}

TEST(PayloadSection, ReportJsonAndHtmlHaveTheSection) {
  rr::Report r;
  r.machine.cpu_model = "Test CPU";
  r.rounds = 3;
  r.payload = sample();
  for (auto& t : rr::payload_targets(&*r.payload)) r.targets.push_back(t);

  const nlohmann::json j = rr::to_json(r);
  const auto& p = j.at("payload");
  EXPECT_EQ(p.at("cpus"), "0,1");
  EXPECT_EQ(p.at("sizes").size(), 2U);
  EXPECT_EQ(p.at("rows").size(), r.payload->rows.size());
  EXPECT_EQ(p.at("comparisons").size(), 7U);
  for (const auto& row : p.at("rows")) {
    if (row.at("value").is_null()) {
      EXPECT_EQ(row.at("missing"), kRefused);
      EXPECT_EQ(row.at("unsupported"), true);
      EXPECT_TRUE(row.at("spread").is_null());
    } else {
      EXPECT_TRUE(row.at("missing").is_null());
      EXPECT_EQ(row.at("spread").at("rounds").size(), 3U) << row.dump();
    }
  }
  std::size_t payload_targets = 0;
  for (const auto& t : j.at("targets")) payload_targets += t.at("section") == "payload" ? 1 : 0;
  EXPECT_EQ(payload_targets, 2U);

  const std::string html = rr::render_html(r);
  EXPECT_NE(html.find("id=\"payload\""), std::string::npos);
  EXPECT_NE(html.find("class=\"payload-rtt\""), std::string::npos);
  EXPECT_NE(html.find("class=\"payload-stream\""), std::string::npos);
  EXPECT_NE(html.find("data-bytes=\"16777216\""), std::string::npos);
  EXPECT_EQ(count_of(html, "data-missing=\"unsupported\""), 1U);
  EXPECT_NE(html.find("not supported on this build"), std::string::npos);
  // The error is escaped, in the cell's title and in the notes.
  EXPECT_EQ(html.find("<Create>"), std::string::npos);
  EXPECT_EQ(count_of(html, "&lt;Create&gt;"), 2U);
  EXPECT_NE(html.find("18.2× faster"), std::string::npos);
  EXPECT_NE(html.find("data-value=\"6000000\""), std::string::npos);
  EXPECT_NE(html.find("<th>new pool's first</th>"), std::string::npos);
  EXPECT_NE(html.find("data-value=\"233000000\""), std::string::npos);
}
