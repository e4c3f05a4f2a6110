#pragma once
// Aggregates shared by the codec's aggregate tests (codec_aggregate_test.cpp: round trips,
// hostile bytes, type tags) and the Pool/Queue ones (codec_aggregate_pool_test.cpp): one
// set of plain structs covering every member kind that travels with no user code.
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace ringpool_test::aggregates {

enum class Side : std::uint8_t { buy, sell };

// Trivially copyable aggregates: memcpy path.
struct Tick {
  std::int64_t time_ns;
  double price;
  Side side;
  std::array<std::int32_t, 3> levels;
  std::chrono::microseconds latency;
  friend bool operator==(const Tick&, const Tick&) = default;
};
struct Bar {
  Tick open;
  Tick close;
  friend bool operator==(const Bar&, const Bar&) = default;
};

// A bool member must be validated: field by field, still of fixed size.
struct Flags {
  std::int32_t id;
  bool active;
  friend bool operator==(const Flags&, const Flags&) = default;
};

// Every member kind, nested.
struct Leg {
  std::string venue;
  std::vector<double> sizes;
  friend bool operator==(const Leg&, const Leg&) = default;
};
struct Order {
  std::string symbol;
  Side side;
  std::vector<Leg> legs;
  std::map<std::string, std::int32_t> limits;
  std::unordered_map<std::int32_t, std::string> notes;
  std::optional<Tick> last;
  std::variant<std::monostate, std::int64_t, std::string> tag;
  std::pair<std::int32_t, std::string> owner;
  std::tuple<bool, double, std::vector<std::string>> extra;
  std::chrono::milliseconds ttl;
  Flags flags;
  Bar bar;
  friend bool operator==(const Order&, const Order&) = default;
};

inline Tick sample_tick(std::int64_t t) {
  using namespace std::chrono_literals;
  return Tick{t, 101.25, Side::sell, {1, 2, 3}, 42us};
}

// Order number i: every optional part present or absent, each variant alternative, by i.
inline Order make_order(int i) {
  Order o{};
  o.symbol = "SYM" + std::to_string(i);
  o.side = i % 2 == 0 ? Side::buy : Side::sell;
  o.legs = {{"XNAS", {static_cast<double>(i), 2.5}}, {"XLON", {}}};
  o.limits = {{"max", i}, {"min", -i}};
  o.notes = {{i, "note"}};
  if (i % 3 == 0) o.last = sample_tick(i);
  if (i % 3 == 1) {
    o.tag = std::int64_t{i};
  } else if (i % 3 == 2) {
    o.tag = "tag" + std::to_string(i);
  }
  o.owner = {i, "desk"};
  o.extra = {i % 2 == 0, 0.5 * i, {"a", "", "c"}};
  o.ttl = std::chrono::milliseconds(i);
  o.flags = {i, i % 5 == 0};
  o.bar = {sample_tick(1), sample_tick(i)};
  return o;
}

}  // namespace ringpool_test::aggregates
