// Fuzz target: pool::Codec<T>::decode over hostile bytes.
//
// Input: byte 0 chooses the type (the last one an aggregate), the rest is the encoded value. A
// decode either throws DecodeError or returns a value that encodes back to exactly the input (the
// wire format is canonical). A crash, a sanitizer report, another exception or a mismatch is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"

namespace {

struct Point {
  double x;
  double y;
};

// Aggregates sent field by field (Boost.PFR): nested, with a bool (validated), an enum, a
// map (keys must be unique and in order), an optional and a variant (index checked).
enum class Side : std::uint8_t { buy, sell };
struct Leg {
  std::string venue;
  std::vector<std::int32_t> sizes;
};
struct Order {
  std::int64_t id;
  Side side;
  bool urgent;
  std::vector<Leg> legs;
  std::map<std::string, std::int32_t> limits;
  std::optional<Point> last;
  std::variant<std::int64_t, std::string> tag;
};

template <class T>
void round_trip(std::span<const std::byte> in) {
  T value = ringpool::pool::from_bytes<T>(in);
  const std::vector<std::byte> again = ringpool::pool::to_bytes(value);
  if (again.size() != in.size() ||
      (!in.empty() && std::memcmp(again.data(), in.data(), in.size()) != 0)) {
    std::abort();  // decoded, but does not encode back to the same bytes
  }
}

void decode_as(std::uint8_t type, std::span<const std::byte> in) {
  switch (type % 13) {
    case 0:
      return round_trip<std::int32_t>(in);
    case 1:
      return round_trip<double>(in);
    case 2:
      return round_trip<std::string>(in);
    case 3:
      return round_trip<std::vector<std::int32_t>>(in);
    case 4:
      return round_trip<std::vector<std::string>>(in);
    case 5:
      return round_trip<std::optional<std::string>>(in);
    case 6:
      return round_trip<std::pair<std::int64_t, std::string>>(in);
    case 7:
      return round_trip<std::tuple<bool, std::vector<std::uint16_t>, std::optional<std::int64_t>>>(
          in);
    case 8:
      return round_trip<std::vector<std::vector<std::string>>>(in);
    case 9:
      return round_trip<std::vector<std::optional<bool>>>(in);
    case 10:
      return round_trip<std::vector<bool>>(in);
    case 11:
      return round_trip<std::pair<Point, std::vector<Point>>>(in);
    default:
      return round_trip<Order>(in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  try {
    decode_as(data[0], std::as_bytes(std::span(data + 1, size - 1)));
  } catch (const ringpool::pool::DecodeError&) {
    // Refused as documented.
  }
  return 0;
}
