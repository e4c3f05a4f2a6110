// Codec<T>: round trips for every supported type, hostile bytes, type tags, and no
// heap allocation for trivially copyable values.
#include "ringpool/pool/codec.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace {

using ::ringpool::test::round_trip;
std::atomic<std::size_t> g_allocations{0};
}  // namespace

// Counting global allocator (this test binary only). GCC pairs an inlined
// `new TestClass` with the free() below and warns; the pairing is correct here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using ringpool::pool::Codec;
using ringpool::pool::DecodeError;
using ringpool::pool::Encodable;
using ringpool::pool::from_bytes;
using ringpool::pool::to_bytes;
using ringpool::pool::type_tag;

struct Point {
  double x;
  double y;
  int id;
  friend bool operator==(const Point&, const Point&) = default;
};

enum class Color : std::uint8_t { red, green, blue };

// A user type with its own codec: a name that travels as "name" bytes, upper-cased.
struct Label {
  std::string text;
  friend bool operator==(const Label&, const Label&) = default;
};

}  // namespace

template <>
struct ringpool::pool::Codec<Label> {
  static std::size_t size(const Label& l) noexcept { return l.text.size() + 1; }
  static void encode(const Label& l, std::span<std::byte> out) noexcept {
    out[0] = std::byte{'L'};
    std::memcpy(out.data() + 1, l.text.data(), l.text.size());
  }
  static Label decode(std::span<const std::byte> in) {
    if (in.empty() || in[0] != std::byte{'L'}) throw DecodeError("not a Label");
    return Label{std::string(reinterpret_cast<const char*>(in.data()) + 1, in.size() - 1)};
  }
};

namespace {

static_assert(Encodable<int>);
static_assert(Encodable<Point>);
static_assert(Encodable<Color>);
static_assert(Encodable<std::array<int, 4>>);
static_assert(Encodable<std::string>);
static_assert(Encodable<std::vector<double>>);
static_assert(Encodable<std::vector<std::string>>);
static_assert(Encodable<std::optional<std::string>>);
static_assert(Encodable<std::pair<int, std::string>>);
static_assert(Encodable<std::tuple<int, std::string, std::vector<Point>>>);
static_assert(Encodable<std::tuple<>>);
static_assert(Encodable<Label>);
static_assert(Encodable<std::vector<Label>>);
// Things whose bytes would not travel are refused at compile time.
static_assert(!Encodable<int*>);
static_assert(!Encodable<const char*>);
static_assert(!Encodable<std::string_view>);
static_assert(!Encodable<std::span<int>>);
static_assert(!Encodable<std::vector<int*>>);
// Fixed-size codecs (no length prefix inside tuples).
static_assert(Codec<Point>::fixed_size == sizeof(Point));

TEST(Codec, TriviallyCopyableRoundTrip) {
  EXPECT_EQ(round_trip(42), 42);
  EXPECT_EQ(round_trip(-7LL), -7LL);
  EXPECT_DOUBLE_EQ(round_trip(3.25), 3.25);
  EXPECT_EQ(round_trip(true), true);
  EXPECT_EQ(round_trip(false), false);
  EXPECT_EQ(round_trip('x'), 'x');
  EXPECT_EQ(round_trip(Color::blue), Color::blue);
  EXPECT_EQ(round_trip(Point{1.5, -2.0, 7}), (Point{1.5, -2.0, 7}));
  EXPECT_EQ(round_trip(std::array<int, 4>{1, 2, 3, 4}), (std::array<int, 4>{1, 2, 3, 4}));
}

TEST(Codec, StringRoundTrip) {
  EXPECT_EQ(round_trip(std::string()), "");
  EXPECT_EQ(round_trip(std::string("猪肉包子")), "猪肉包子");
  std::string with_nul("a\0b", 3);
  EXPECT_EQ(round_trip(with_nul), with_nul);
  EXPECT_EQ(to_bytes(std::string("abc")).size(), 3U);  // no prefix at top level
}

TEST(Codec, VectorRoundTrip) {
  EXPECT_EQ(round_trip(std::vector<int>{}), std::vector<int>{});
  EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(to_bytes(std::vector<int>{1, 2, 3}).size(), 3 * sizeof(int));
  const std::vector<Point> points{{1, 2, 3}, {4, 5, 6}};
  EXPECT_EQ(round_trip(points), points);
  const std::vector<std::string> words{"baidu", "", "tengxun"};
  EXPECT_EQ(round_trip(words), words);
  const std::vector<bool> bits{true, false, true};
  EXPECT_EQ(round_trip(bits), bits);
  const std::vector<std::vector<int>> nested{{1}, {}, {2, 3}};
  EXPECT_EQ(round_trip(nested), nested);
}

// Packed vectors decode in one pass from bytes at any alignment (an argument inside a task
// message need not be aligned for its element type), small and large (from kLargeFill up
// the destination gets the huge-page hint first).
TEST(Codec, PackedVectorsAndStringsDecodeFromAnyAlignment) {
  for (const std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{5000},
                              (ringpool::pool::detail::kLargeFill / sizeof(double)) + 3}) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i) * 0.25 + 1.0;
    const auto bytes = to_bytes(v);
    std::vector<std::byte> shifted(bytes.size() + 8);
    for (std::size_t offset = 0; offset < 8; ++offset) {
      std::memcpy(shifted.data() + offset, bytes.data(), bytes.size());
      const std::span<const std::byte> in(shifted.data() + offset, bytes.size());
      EXPECT_EQ(Codec<std::vector<double>>::decode(in), v) << n << " at +" << offset;
    }
  }
  const std::string big(ringpool::pool::detail::kLargeFill + 5, 'q');
  EXPECT_EQ(from_bytes<std::string>(to_bytes(big)), big);
  EXPECT_TRUE(Codec<std::vector<double>>::decode({}).empty());
}

TEST(Codec, OptionalPairTupleRoundTrip) {
  EXPECT_EQ(round_trip(std::optional<int>()), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<int>(5)), 5);
  EXPECT_EQ(round_trip(std::optional<std::string>("x")), "x");
  EXPECT_EQ(round_trip(std::pair<int, std::string>(1, "one")),
            (std::pair<int, std::string>(1, "one")));
  const std::tuple<int, std::string, std::vector<Point>, std::optional<double>> t{
      7, "seven", {{1, 2, 3}}, 2.5};
  EXPECT_EQ(round_trip(t), t);
  EXPECT_EQ(round_trip(std::tuple<>()), std::tuple<>());
  const std::pair<std::tuple<int, int>, std::pair<std::string, std::string>> nested{{1, 2},
                                                                                    {"a", "b"}};
  EXPECT_EQ(round_trip(nested), nested);
}

TEST(Codec, UserSpecialisationRoundTrip) {
  EXPECT_EQ(round_trip(Label{"hello"}), Label{"hello"});
  const std::vector<Label> labels{{"a"}, {"bc"}};
  EXPECT_EQ(round_trip(labels), labels);
  const std::tuple<Label, int> t{{"x"}, 3};
  EXPECT_EQ(round_trip(t), t);
}

TEST(Codec, WrongSizeOfTriviallyCopyableThrows) {
  const auto bytes = to_bytes(42);
  EXPECT_THROW(from_bytes<int>(std::span(bytes).first(3)), DecodeError);
  std::vector<std::byte> longer(bytes);
  longer.push_back(std::byte{0});
  EXPECT_THROW(from_bytes<int>(longer), DecodeError);
  EXPECT_THROW(from_bytes<Point>(std::span<const std::byte>()), DecodeError);
}

TEST(Codec, InvalidBoolAndOptionalTagThrow) {
  const std::vector<std::byte> two{std::byte{2}};
  EXPECT_THROW(from_bytes<bool>(two), DecodeError);
  EXPECT_THROW(from_bytes<std::optional<int>>(two), DecodeError);
  EXPECT_THROW(from_bytes<std::optional<int>>(std::span<const std::byte>()), DecodeError);
  // An empty optional followed by garbage.
  const std::vector<std::byte> extra{std::byte{0}, std::byte{1}};
  EXPECT_THROW(from_bytes<std::optional<int>>(extra), DecodeError);
}

TEST(Codec, VectorWithPartialElementThrows) {
  auto bytes = to_bytes(std::vector<int>{1, 2});
  bytes.pop_back();
  EXPECT_THROW(from_bytes<std::vector<int>>(bytes), DecodeError);
}

TEST(Codec, TruncatedOrLyingFramedDataThrows) {
  const std::vector<std::string> words{"alpha", "beta"};
  const auto bytes = to_bytes(words);
  // Every strict prefix is rejected.
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(from_bytes<std::vector<std::string>>(std::span(bytes).first(n)), DecodeError)
        << "prefix of " << n << " bytes";
  }
  // Trailing garbage is rejected.
  auto longer = bytes;
  longer.push_back(std::byte{7});
  EXPECT_THROW(from_bytes<std::vector<std::string>>(longer), DecodeError);
  // A count far larger than the bytes present is rejected before reserving memory.
  auto lying = bytes;
  const std::uint64_t huge = std::uint64_t{1} << 60;
  std::memcpy(lying.data(), &huge, sizeof huge);
  EXPECT_THROW(from_bytes<std::vector<std::string>>(lying), DecodeError);
  // An element length past the end is rejected.
  auto long_element = bytes;
  std::memcpy(long_element.data() + 8, &huge, sizeof huge);
  EXPECT_THROW(from_bytes<std::vector<std::string>>(long_element), DecodeError);
}

TEST(Codec, TruncatedTupleThrows) {
  const std::tuple<int, std::string, double> t{1, "two", 3.0};
  const auto bytes = to_bytes(t);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW((from_bytes<std::tuple<int, std::string, double>>(std::span(bytes).first(n))),
                 DecodeError)
        << "prefix of " << n << " bytes";
  }
  auto longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_THROW((from_bytes<std::tuple<int, std::string, double>>(longer)), DecodeError);
}

TEST(Codec, DecodeErrorNamesTheType) {
  try {
    static_cast<void>(from_bytes<Point>(std::span<const std::byte>()));
    FAIL() << "no DecodeError";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("Point"), std::string::npos) << e.what();
    const std::string expected = "expected " + std::to_string(sizeof(Point));
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

TEST(Codec, NoHeapAllocationForTriviallyCopyable) {
  std::array<std::byte, sizeof(Point)> slot{};
  const Point p{1, 2, 3};
  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i) {
    Codec<Point>::encode(p, slot);
    const Point q = Codec<Point>::decode(slot);
    ASSERT_EQ(q, p);
    const auto t = std::make_tuple(1, 2.0);
    std::array<std::byte, sizeof(int) + sizeof(double)> tslot{};
    ASSERT_EQ((Codec<std::tuple<int, double>>::size(t)), tslot.size());
    Codec<std::tuple<int, double>>::encode(t, tslot);
    ASSERT_EQ((Codec<std::tuple<int, double>>::decode(tslot)), t);
  }
  EXPECT_EQ(g_allocations.load(), before);
}

// Aggregates of trivially copyable members: one memcpy (Quote); with a bool member, field
// by field but still of fixed size (Status). Neither allocates.
struct Quote {
  Point at;
  std::array<std::int32_t, 4> sizes;
  Color color;
  std::chrono::nanoseconds age;
  friend bool operator==(const Quote&, const Quote&) = default;
};
struct Status {
  Quote quote;
  bool stale;
  friend bool operator==(const Status&, const Status&) = default;
};
static_assert(ringpool::pool::detail::kIsRaw<Quote>);
static_assert(Codec<Status>::fixed_size == sizeof(Quote) + 1);

TEST(Codec, NoHeapAllocationForTriviallyCopyableAggregates) {
  const Quote q{{1, 2, 3}, {4, 5, 6, 7}, Color::green, std::chrono::nanoseconds(9)};
  const Status st{q, true};
  std::array<std::byte, sizeof(Quote)> qslot{};
  std::array<std::byte, sizeof(Quote) + 1> sslot{};
  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i) {
    Codec<Quote>::encode(q, qslot);
    ASSERT_EQ(Codec<Quote>::decode(qslot), q);
    ASSERT_EQ(Codec<Status>::size(st), sslot.size());
    Codec<Status>::encode(st, sslot);
    ASSERT_EQ(Codec<Status>::decode(sslot), st);
  }
  EXPECT_EQ(g_allocations.load(), before);
}

TEST(Codec, TypeTagsDifferAndAreConstant) {
  constexpr auto int_tag = type_tag<int>();
  static_assert(int_tag == type_tag<int>());
  static_assert(type_tag<int>() == type_tag<const int>());
  EXPECT_NE(type_tag<int>(), type_tag<unsigned>());
  EXPECT_NE(type_tag<int>(), type_tag<long>());
  EXPECT_NE(type_tag<std::string>(), type_tag<std::vector<char>>());
  EXPECT_NE(type_tag<Point>(), (type_tag<std::tuple<double, double, int>>()));
  EXPECT_NE((type_tag<std::pair<int, int>>()), (type_tag<std::pair<int, long>>()));
}

}  // namespace
