// Codec<T> for aggregates (Boost.PFR, no user code) and the standard types added with
// them (std::map, std::unordered_map, std::variant, std::array of non-raw elements): round
// trips, what stays on the memcpy path, what is refused, hostile bytes, type tags.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "codec_aggregate_fixtures.hpp"
#include "ringpool/pool/codec.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::round_trip;

using ringpool::pool::Codec;
using ringpool::pool::DecodeError;
using ringpool::pool::Encodable;
using ringpool::pool::from_bytes;
using ringpool::pool::to_bytes;
using ringpool::pool::type_tag;
using ringpool::pool::detail::kIsRaw;
using namespace std::chrono_literals;

using namespace ringpool_test::aggregates;

struct WithCArray {  // C array members are fine on the memcpy path
  std::int32_t id;
  char code[8];
};

struct NoFields {
  friend bool operator==(const NoFields&, const NoFields&) = default;
};
struct WithEmpty {
  NoFields nothing;
  std::string text;
  friend bool operator==(const WithEmpty&, const WithEmpty&) = default;
};

// Refused: members that do not travel.
struct WithPointer {
  std::int32_t id;
  const double* values;
};
struct WithPointerAndString {
  std::string name;
  int* p;
};
struct WithUniquePtr {
  std::string name;
  std::unique_ptr<int> p;
};
struct WithReference {
  const std::string& name;
};
struct WithRawReference {  // trivially copyable: would be memcpy'd as a pointer
  const int& value;
};
struct WithView {
  std::string_view name;
};
struct NestedPointer {
  std::string name;
  WithPointer inner;
};
class PrivateState {
 public:
  explicit PrivateState(std::string s) : s_(std::move(s)) {}

 private:
  std::string s_;
};

static_assert(kIsRaw<Tick>);
static_assert(kIsRaw<Bar>);
static_assert(kIsRaw<WithCArray>);
static_assert(Codec<Tick>::fixed_size == sizeof(Tick));
static_assert(!kIsRaw<Flags> && Encodable<Flags>);
static_assert(Codec<Flags>::fixed_size == sizeof(std::int32_t) + 1);
static_assert(Encodable<Order>);
static_assert(Encodable<std::vector<Order>>);
static_assert(Encodable<WithEmpty>);
static_assert(Codec<NoFields>::fixed_size == 0);
static_assert(!Encodable<WithPointer>);
static_assert(!Encodable<WithPointerAndString>);
static_assert(!Encodable<WithUniquePtr>);
static_assert(!Encodable<WithReference>);
static_assert(!Encodable<WithRawReference>);
static_assert(!Encodable<WithView>);
static_assert(!Encodable<NestedPointer>);
static_assert(!Encodable<PrivateState>);
static_assert(!Encodable<std::vector<WithPointer>>);
static_assert(!Encodable<std::array<int*, 2>>);
// Containers of zero-byte elements: their count could not be bounded by the bytes.
static_assert(!Encodable<std::vector<NoFields>>);

Order sample_order() {
  Order o{};
  o.symbol = "ACME";
  o.side = Side::buy;
  o.legs = {{"XNAS", {1.0, 2.5}}, {"", {}}};
  o.limits = {{"max", 100}, {"min", -5}};
  o.notes = {{1, "one"}, {2, "two"}, {3, std::string(300, 'x')}};
  o.last = sample_tick(7);
  o.tag = std::string("gtc");
  o.owner = {9, "desk"};
  o.extra = {true, 0.5, {"a", "", "c"}};
  o.ttl = 1500ms;
  o.flags = {3, true};
  o.bar = {sample_tick(1), sample_tick(2)};
  return o;
}

TEST(CodecAggregate, TriviallyCopyableAggregatesAreTheirBytes) {
  const Bar bar{sample_tick(1), sample_tick(2)};
  const auto bytes = to_bytes(bar);
  ASSERT_EQ(bytes.size(), sizeof(Bar));
  EXPECT_EQ(std::memcmp(bytes.data(), &bar, sizeof(Bar)), 0);
  EXPECT_EQ(round_trip(bar), bar);
  const WithCArray c{5, "abc"};
  const WithCArray back = round_trip(c);
  EXPECT_EQ(back.id, 5);
  EXPECT_STREQ(back.code, "abc");
}

TEST(CodecAggregate, NestedAggregateWithEveryMemberKindRoundTrips) {
  const Order o = sample_order();
  EXPECT_EQ(round_trip(o), o);
  Order other = o;
  other.tag = std::int64_t{-3};
  other.last.reset();
  other.limits.clear();
  EXPECT_EQ(round_trip(other), other);
  other.tag = std::monostate{};
  EXPECT_EQ(round_trip(other), other);
  const std::vector<Order> many{o, other, Order{}};
  EXPECT_EQ(round_trip(many), many);
  EXPECT_EQ(round_trip(std::make_tuple(o, 5)), std::make_tuple(o, 5));
}

TEST(CodecAggregate, BoolMembersAndEmptyStructs) {
  EXPECT_EQ(round_trip(Flags{1, true}), (Flags{1, true}));
  EXPECT_EQ(round_trip(Flags{2, false}), (Flags{2, false}));
  EXPECT_EQ(to_bytes(Flags{1, true}).size(), 5U);
  EXPECT_EQ(round_trip(WithEmpty{{}, "x"}), (WithEmpty{{}, "x"}));
  EXPECT_TRUE(to_bytes(NoFields{}).empty());
}

TEST(CodecAggregate, StandardTypesOnTheirOwn) {
  const std::map<std::string, std::vector<int>> m{{"a", {1}}, {"b", {}}};
  EXPECT_EQ(round_trip(m), m);
  const std::unordered_map<std::string, double> u{{"x", 1.5}, {"y", -2}};
  EXPECT_EQ(round_trip(u), u);
  const std::variant<int, std::string, Leg> v = Leg{"v", {3}};
  EXPECT_EQ(round_trip(v), v);
  const std::array<std::string, 3> a{"p", "", "q"};
  EXPECT_EQ(round_trip(a), a);
  const std::array<bool, 3> bits{true, false, true};
  EXPECT_EQ(round_trip(bits), bits);
  EXPECT_EQ(round_trip(std::chrono::nanoseconds(-5)), std::chrono::nanoseconds(-5));
}

// Every strict prefix and every longer input of an encoding is refused with DecodeError.
template <class T>
void expect_prefixes_and_trailing_refused(const T& v) {
  const auto bytes = to_bytes(v);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(static_cast<void>(from_bytes<T>(std::span(bytes).first(n))), DecodeError)
        << "prefix of " << n << " of " << bytes.size() << " bytes";
  }
  auto longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_THROW(static_cast<void>(from_bytes<T>(longer)), DecodeError);
}

TEST(CodecAggregate, TruncatedOrLongerInputThrows) {
  Order small{};
  small.symbol = "S";
  small.legs = {{"v", {1}}};
  small.limits = {{"k", 1}};
  small.notes = {{1, "n"}};
  small.tag = std::string("t");
  expect_prefixes_and_trailing_refused(small);
  expect_prefixes_and_trailing_refused(Flags{1, true});
  expect_prefixes_and_trailing_refused(std::variant<int, std::string>(5));
}

TEST(CodecAggregate, HostileBytesThrow) {
  // A bool member holding 2.
  auto flags = to_bytes(Flags{1, true});
  flags[4] = std::byte{2};
  EXPECT_THROW(static_cast<void>(from_bytes<Flags>(flags)), DecodeError);

  // A variant index past the last alternative.
  using V = std::variant<int, std::string>;
  auto v = to_bytes(V(7));
  const std::uint32_t bad_index = 2;
  std::memcpy(v.data(), &bad_index, sizeof bad_index);
  EXPECT_THROW(static_cast<void>(from_bytes<V>(v)), DecodeError);

  // A map count far beyond the bytes, a repeated key, keys out of order.
  using M = std::map<std::int32_t, std::int32_t>;
  auto m = to_bytes(M{{1, 10}, {2, 20}});
  auto huge = m;
  const std::uint64_t lie = std::uint64_t{1} << 62;
  std::memcpy(huge.data(), &lie, sizeof lie);
  EXPECT_THROW(static_cast<void>(from_bytes<M>(huge)), DecodeError);
  auto repeated = m;
  const std::int32_t one = 1;
  std::memcpy(repeated.data() + 8 + 8, &one, sizeof one);  // second key := 1
  EXPECT_THROW(static_cast<void>(from_bytes<M>(repeated)), DecodeError);
  auto swapped = m;
  const std::int32_t three = 3;
  std::memcpy(swapped.data() + 8, &three, sizeof three);  // first key := 3 > 2
  EXPECT_THROW(static_cast<void>(from_bytes<M>(swapped)), DecodeError);
  using U = std::unordered_map<std::int32_t, std::int32_t>;
  auto u = to_bytes(M{{1, 10}, {2, 20}});  // same wire format
  std::memcpy(u.data() + 8 + 8, &one, sizeof one);
  EXPECT_THROW(static_cast<void>(from_bytes<U>(u)), DecodeError);

  // A field length past the end of an aggregate.
  auto leg = to_bytes(Leg{"venue", {1.0}});
  std::memcpy(leg.data(), &lie, sizeof lie);
  EXPECT_THROW(static_cast<void>(from_bytes<Leg>(leg)), DecodeError);
}

TEST(CodecAggregate, DecodeErrorNamesTheAggregate) {
  try {
    static_cast<void>(from_bytes<Leg>(std::span<const std::byte>()));
    FAIL() << "no DecodeError";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("Leg"), std::string::npos) << e.what();
  }
}

// Same layout, other names: the tags differ. An aggregate sent field by field also
// folds its field types into its tag.
struct LegTwin {
  std::string venue;
  std::vector<double> sizes;
};
struct LegSwapped {
  std::vector<double> sizes;
  std::string venue;
};

TEST(CodecAggregate, TypeTagsTellAggregatesApart) {
  static_assert(type_tag<Leg>() == type_tag<const Leg>());
  EXPECT_NE(type_tag<Leg>(), type_tag<LegTwin>());
  EXPECT_NE(type_tag<Leg>(), type_tag<LegSwapped>());
  EXPECT_NE(type_tag<Tick>(), type_tag<Bar>());
  EXPECT_NE(type_tag<Order>(), type_tag<Leg>());
  EXPECT_NE((type_tag<std::map<int, int>>()), (type_tag<std::unordered_map<int, int>>()));
  // The field part: LegTwin and LegSwapped hold the same field types in another order.
  using ringpool::pool::detail::fields_tag;
  EXPECT_NE(fields_tag<LegTwin>(0, std::make_index_sequence<2>{}),
            fields_tag<LegSwapped>(0, std::make_index_sequence<2>{}));
}

}  // namespace
