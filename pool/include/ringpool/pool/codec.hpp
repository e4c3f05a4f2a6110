#pragma once
// How values travel between processes: Codec<T> turns a value into bytes in a ring
// slot (or an inherited fd) and back. The same codec serves Pool arguments and results,
// Queue items and Process arguments.
//
// What travels with no user code:
//  - trivially copyable types (numbers, enums, std::chrono durations and time points,
//    std::array of them, structs of them): their bytes, by memcpy, with no allocation;
//  - aggregates (plain structs: public members, no constructors, no base classes, no
//    virtual functions) of travelling members, field by field through Boost.PFR:
//
//      struct Order {                          // no code needed to send an Order
//        std::string symbol;
//        std::vector<double> prices;
//        std::map<std::string, int> limits;
//        std::optional<Side> side;             // Side: an enum
//        std::chrono::milliseconds ttl;
//      };
//      pool.submit(price, Order{...});  queue.put(order);
//
//  - std::string, std::vector, std::array, std::map, std::unordered_map, std::optional,
//    std::variant, std::pair and std::tuple of travelling types, recursively.
//
// What is refused at compile time (the first error is a static_assert saying so, with the
// type in the "In instantiation of ringpool::pool::detail::MustTravel<T>" line above it):
// raw pointers, references, std::string_view and std::span (the bytes they point to would
// not travel), std::unique_ptr and other types with neither an aggregate shape nor a
// Codec, any struct with such a member, and structs with reference or const members.
//
// The one customisation point, for types with private state (or a wire format of one's
// own): specialise Codec<T> in namespace ringpool::pool, next to the type.
//
//   class Account {                             // private state: not an aggregate
//    public:
//     Account(std::string owner, std::int64_t cents);
//     const std::string& owner() const;
//     std::int64_t cents() const;
//    ...
//   };
//   template <>
//   struct ringpool::pool::Codec<Account> {
//     using Parts = std::pair<std::string, std::int64_t>;   // reuse the provided codecs
//     static std::size_t size(const Account& a) {
//       return Codec<Parts>::size(Parts(a.owner(), a.cents()));
//     }
//     static void encode(const Account& a, std::span<std::byte> out) {
//       Codec<Parts>::encode(Parts(a.owner(), a.cents()), out);
//     }
//     static Account decode(std::span<const std::byte> in) {   // validate; throw DecodeError
//       auto [owner, cents] = Codec<Parts>::decode(in);
//       return Account(std::move(owner), cents);
//     }
//   };
//
// A trivially copyable class with private members travels as its bytes: one holding a
// pointer is the user's responsibility (specialise Codec for it). Trivially copyable
// aggregates up to detail::kProbeLimit bytes are checked member by member and refused
// when a member is a pointer.
//
// Decoding treats its input as hostile: every length, count, variant index and bool is
// checked against the bytes present before use, a map's keys must be unique (and in
// order for std::map), and a mismatch throws DecodeError naming the type; nothing reads
// out of bounds. An enum travels as its underlying integer: every value of an enum with
// a fixed underlying type (enum class, or `enum E : int`) is valid in C++; give plain
// enums a fixed underlying type.
//
// Wire format (same machine, same binary layout, native byte order):
//   raw T                    sizeof(T) bytes
//   std::string              the characters, no prefix (the slot knows its length)
//   std::vector<raw T>       n * sizeof(T) bytes
//   std::vector<other T>     u64 count, then each element framed
//   std::array<other T, N>   N framed elements
//   std::optional<T>         u8 engaged (0/1), then T if engaged
//   std::variant<Ts...>      u32 index, then the alternative's bytes
//   std::map, unordered_map  u64 count, then each key and value framed, in iteration order
//   pair / tuple / aggregate each element (field) framed, in order
//   framed element           a fixed-size codec's bytes, or u64 length + the bytes
#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "ringpool/pool/detail/codec_reflect.hpp"
#include "ringpool/pool/detail/stream_in.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool {

// The customisation point. Specialisations provide
//   static std::size_t size(const T&);                          // exact encoded size
//   static void encode(const T&, std::span<std::byte> out);     // out.size() == size(v)
//   static T decode(std::span<const std::byte> in);             // throws DecodeError
// and may provide `static constexpr std::size_t fixed_size` when every value encodes
// to that many bytes (saves a length prefix inside pairs, tuples and vectors).
template <class T, class Enable = void>
struct Codec;

template <class T>
concept Encodable = requires(const T& v, std::span<std::byte> out, std::span<const std::byte> in) {
  { Codec<T>::size(v) } -> std::convertible_to<std::size_t>;
  Codec<T>::encode(v, out);
  { Codec<T>::decode(in) } -> std::same_as<T>;
};

namespace detail {

// Throws DecodeError naming the type and what was wrong (out of line: cold path).
[[noreturn]] void throw_decode_error(const std::type_info& type, std::string_view problem,
                                     std::size_t got, std::size_t expected);
// As above, for a problem that is not a size.
[[noreturn]] void throw_decode_error(const std::type_info& type, std::string_view problem);

// Values of at least this many bytes are decoded into storage prepared by
// prepare_large_fill() (docs/codec.md, "The receiver's allocation").
inline constexpr std::size_t kLargeFill = std::size_t{4} << 20;
// Asks the kernel to back the whole 2 MiB pages inside [dest, dest + bytes) with
// transparent huge pages (madvise MADV_HUGEPAGE) before the decoder fills every byte of
// that range: a freshly allocated 16 MiB buffer then takes 8 page faults instead of 4,096.
// Only a hint about memory the caller is about to overwrite in full; no effect where the
// kernel does not offer huge pages. Never throws.
void prepare_large_fill(void* dest, std::size_t bytes) noexcept;

// Appends the n elements of T whose bytes start at `in` to v (capacity already reserved),
// in one pass: from `in` itself when it is aligned for T, else through a small aligned
// buffer that stays in cache (the bytes of one argument inside a task message need not be).
template <class T, class Vector>
void append_raw(Vector& v, const std::byte* in, std::size_t n) {
  if (reinterpret_cast<std::uintptr_t>(in) % alignof(T) == 0) {
    const T* first = reinterpret_cast<const T*>(in);
    v.insert(v.end(), first, first + n);
    return;
  }
  constexpr std::size_t kChunk = sizeof(T) >= 4096 ? 1 : 4096 / sizeof(T);
  alignas(T) std::byte buffer[kChunk * sizeof(T)];
  while (n > 0) {
    const std::size_t k = n < kChunk ? n : kChunk;
    std::memcpy(buffer, in, k * sizeof(T));
    const T* first = std::launder(reinterpret_cast<const T*>(buffer));
    v.insert(v.end(), first, first + k);
    in += k * sizeof(T);
    n -= k;
  }
}

template <class T, template <class...> class Template>
inline constexpr bool kIsSpecialization = false;
template <template <class...> class Template, class... Args>
inline constexpr bool kIsSpecialization<Template<Args...>, Template> = true;

template <class T>
inline constexpr bool kIsSpan = false;
template <class E, std::size_t N>
inline constexpr bool kIsSpan<std::span<E, N>> = true;

template <class T>
inline constexpr bool kIsStdArray = false;
template <class E, std::size_t N>
inline constexpr bool kIsStdArray<std::array<E, N>> = true;

// A class with a reference (or const) member has no assignment operator; Boost.PFR
// reports a reference member as the referred-to type, so this is how one is refused.
template <class T>
inline constexpr bool kNoReferenceMembers = !std::is_class_v<T> || std::is_move_assignable_v<T>;

// Trivially copyable types that are not sent as their bytes: they point elsewhere, or
// (optional) hold a byte that must be validated, or are handled by a codec of their own.
template <class T>
inline constexpr bool kIsRawCandidate =
    std::is_trivially_copyable_v<T>&& std::is_object_v<T> && !std::is_array_v<T> &&
    !std::is_pointer_v<T> && !std::is_member_pointer_v<T> && !std::is_same_v<T, std::nullptr_t> &&
    !kIsSpecialization<T, std::basic_string_view> && !kIsSpan<T> &&
    !kIsSpecialization<T, std::optional> && !kIsSpecialization<T, std::pair> &&
    !kIsSpecialization<T, std::tuple> && !std::is_empty_v<T> && kNoReferenceMembers<T>;

template <class T>
constexpr bool is_raw();

// A member of a raw aggregate: raw itself, and not a bool (a bool byte other than 0 or 1
// must be refused, which only a field-by-field decode can do).
template <class F>
struct RawMember : std::bool_constant<is_raw<F>() && !std::is_same_v<F, bool>> {};

template <class T>
constexpr bool is_raw() {
  if constexpr (!kIsRawCandidate<T>) {
    return false;
  } else if constexpr (kIsStdArray<T>) {
    return RawMember<std::remove_cv_t<typename T::value_type>>::value;
  } else if constexpr (PlainAggregate<T> && sizeof(T) <= kProbeLimit) {
    return all_fields_satisfy<T, RawMember>();
  } else {
    return true;
  }
}

// Types sent as their object representation (memcpy; the zero-allocation fast path).
template <class T>
inline constexpr bool kIsRaw = is_raw<T>();

template <class T>
concept FixedSize = requires {
  { Codec<T>::fixed_size } -> std::convertible_to<std::size_t>;
};

inline constexpr std::size_t kLengthPrefix = sizeof(std::uint64_t);

inline void store_u64(std::byte* out, std::uint64_t v) noexcept {
  std::memcpy(out, &v, sizeof v);
}
inline std::uint64_t load_u64(const std::byte* in) noexcept {
  std::uint64_t v;
  std::memcpy(&v, in, sizeof v);
  return v;
}

// The fewest bytes one framed T takes: a container decoder bounds a declared element
// count by the bytes present with it. Containers of zero-byte elements (empty structs)
// are not provided: their count could not be checked.
template <class T>
constexpr std::size_t min_framed_size() {
  if constexpr (FixedSize<T>) {
    return Codec<T>::fixed_size;
  } else {
    return kLengthPrefix;
  }
}

// Reads a u64 element count from the front of `in`, advances past it and checks that
// `count` elements of at least `min_element` bytes fit the bytes left.
inline std::size_t decode_count(std::span<const std::byte>& in, std::size_t min_element,
                                const std::type_info& outer) {
  if (in.size() < kLengthPrefix) {
    throw_decode_error(outer, "truncated element count", in.size(), kLengthPrefix);
  }
  const std::uint64_t count = load_u64(in.data());
  in = in.subspan(kLengthPrefix);
  if (count > in.size() / min_element) {
    throw_decode_error(outer, "element count larger than the bytes left can hold", in.size(),
                       static_cast<std::size_t>(count));
  }
  return static_cast<std::size_t>(count);
}

// Size of v as an element inside a pair, tuple or vector.
template <Encodable T>
std::size_t framed_size(const T& v) {
  if constexpr (FixedSize<T>) {
    return Codec<T>::fixed_size;
  } else {
    return kLengthPrefix + Codec<T>::size(v);
  }
}

// Writes v framed at out; returns the first byte after it.
template <Encodable T>
std::byte* encode_framed(const T& v, std::byte* out) {
  if constexpr (FixedSize<T>) {
    Codec<T>::encode(v, std::span<std::byte>(out, Codec<T>::fixed_size));
    return out + Codec<T>::fixed_size;
  } else {
    const std::size_t n = Codec<T>::size(v);
    store_u64(out, n);
    Codec<T>::encode(v, std::span<std::byte>(out + kLengthPrefix, n));
    return out + kLengthPrefix + n;
  }
}

// Reads one framed T from the front of `in` and advances `in` past it.
template <Encodable T>
T decode_framed(std::span<const std::byte>& in, const std::type_info& outer) {
  std::size_t n = 0;
  if constexpr (FixedSize<T>) {
    n = Codec<T>::fixed_size;
  } else {
    if (in.size() < kLengthPrefix) {
      throw_decode_error(outer, "truncated length prefix", in.size(), kLengthPrefix);
    }
    const std::uint64_t declared = load_u64(in.data());
    in = in.subspan(kLengthPrefix);
    if (declared > in.size()) {
      throw_decode_error(outer, "element length larger than the bytes left", in.size(),
                         static_cast<std::size_t>(declared));
    }
    n = static_cast<std::size_t>(declared);
  }
  if (n > in.size()) throw_decode_error(outer, "truncated element", in.size(), n);
  T value = Codec<T>::decode(in.first(n));
  in = in.subspan(n);
  return value;
}

}  // namespace detail

// Trivially copyable values: their bytes. No allocation, noexcept encode.
template <class T>
requires detail::kIsRaw<T>
struct Codec<T> {
  static constexpr std::size_t fixed_size = sizeof(T);

  static constexpr std::size_t size(const T&) noexcept { return sizeof(T); }
  static void encode(const T& v, std::span<std::byte> out) noexcept {
    std::memcpy(out.data(), &v, sizeof(T));
  }
  static T decode(std::span<const std::byte> in) {
    if (in.size() != sizeof(T)) {
      detail::throw_decode_error(typeid(T), "wrong size", in.size(), sizeof(T));
    }
    std::array<std::byte, sizeof(T)> bytes;
    std::memcpy(bytes.data(), in.data(), sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      // A bool holding anything but 0 or 1 is undefined behaviour to read.
      if (std::to_integer<unsigned>(bytes[0]) > 1U) {
        detail::throw_decode_error(typeid(T), "bool byte is neither 0 nor 1",
                                   std::to_integer<unsigned>(bytes[0]), 1);
      }
    }
    return std::bit_cast<T>(bytes);
  }
};

// std::string: its characters; the slot length is the string length.
template <>
struct Codec<std::string> {
  static std::size_t size(const std::string& s) noexcept { return s.size(); }
  static void encode(const std::string& s, std::span<std::byte> out) noexcept {
    if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  }
  static std::string decode(std::span<const std::byte> in) {
    if (in.size() < detail::kStreamMin) {
      return std::string(reinterpret_cast<const char*>(in.data()), in.size());
    }
    std::string s;
    s.reserve(in.size());
    if (in.size() >= detail::kLargeFill) detail::prepare_large_fill(s.data(), in.size());
    const std::byte* p = in.data();
    const std::byte* const last = p + in.size();
    while (p != last) {  // the bytes in place now (all of them unless streamed)
      const std::size_t k = detail::readable_from(p, last, detail::kStreamChunk);
      s.append(reinterpret_cast<const char*>(p), k);
      p += k;
    }
    return s;
  }
};

// std::vector<T>: packed elements for raw T, otherwise a count and framed elements.
template <Encodable T, class Alloc>
requires(detail::min_framed_size<T>() > 0) struct Codec<std::vector<T, Alloc>> {
  using Vector = std::vector<T, Alloc>;
  static constexpr bool kPacked = detail::kIsRaw<T> && !std::is_same_v<T, bool>;

  static std::size_t size(const Vector& v) {
    if constexpr (kPacked) {
      return v.size() * sizeof(T);
    } else {
      std::size_t n = detail::kLengthPrefix;
      for (const auto& e : v) n += detail::framed_size<T>(e);
      return n;
    }
  }
  static void encode(const Vector& v, std::span<std::byte> out) {
    if constexpr (kPacked) {
      if (!v.empty()) std::memcpy(out.data(), v.data(), v.size() * sizeof(T));
    } else {
      std::byte* p = out.data();
      detail::store_u64(p, v.size());
      p += detail::kLengthPrefix;
      for (const auto& e : v) p = detail::encode_framed<T>(e, p);
    }
  }
  static Vector decode(std::span<const std::byte> in) {
    Vector v;
    if constexpr (kPacked) {
      if (in.size() % sizeof(T) != 0) {
        detail::throw_decode_error(typeid(Vector), "size is not a multiple of the element size",
                                   in.size(), sizeof(T));
      }
      // One pass: reserved, then filled (resize() would zero-fill first).
      const std::size_t n = in.size() / sizeof(T);
      if (n == 0) return v;
      v.reserve(n);
      if (in.size() < detail::kStreamMin) {
        detail::append_raw<T>(v, in.data(), n);
        return v;
      }
      if (in.size() >= detail::kLargeFill) detail::prepare_large_fill(v.data(), in.size());
      const std::byte* p = in.data();
      const std::byte* const last = p + in.size();
      constexpr std::size_t kWant = std::max(detail::kStreamChunk, sizeof(T));
      while (p != last) {  // the whole elements in place now (all of them unless streamed)
        std::size_t k = detail::readable_from(p, last, kWant);  // >= one element
        k -= k % sizeof(T);
        detail::append_raw<T>(v, p, k / sizeof(T));
        p += k;
      }
    } else {
      const std::size_t count =
          detail::decode_count(in, detail::min_framed_size<T>(), typeid(Vector));
      v.reserve(count);
      for (std::size_t i = 0; i < count; ++i) {
        v.push_back(detail::decode_framed<T>(in, typeid(Vector)));
      }
      if (!in.empty()) {
        detail::throw_decode_error(typeid(Vector), "trailing bytes after the last element",
                                   in.size(), 0);
      }
    }
    return v;
  }
};

// std::optional<T>: one engaged byte, then the value.
template <Encodable T>
struct Codec<std::optional<T>> {
  static std::size_t size(const std::optional<T>& v) { return 1 + (v ? Codec<T>::size(*v) : 0); }
  static void encode(const std::optional<T>& v, std::span<std::byte> out) {
    out[0] = std::byte{v ? std::uint8_t{1} : std::uint8_t{0}};
    if (v) Codec<T>::encode(*v, out.subspan(1));
  }
  static std::optional<T> decode(std::span<const std::byte> in) {
    if (in.empty()) {
      detail::throw_decode_error(typeid(std::optional<T>), "missing engaged byte", 0, 1);
    }
    const auto engaged = std::to_integer<unsigned>(in[0]);
    if (engaged > 1U) {
      detail::throw_decode_error(typeid(std::optional<T>), "engaged byte is neither 0 nor 1",
                                 engaged, 1);
    }
    if (engaged == 0U) {
      if (in.size() != 1) {
        detail::throw_decode_error(typeid(std::optional<T>), "bytes after an empty optional",
                                   in.size(), 1);
      }
      return std::nullopt;
    }
    return std::optional<T>(Codec<T>::decode(in.subspan(1)));
  }
};

namespace detail {

// Shared by pair and tuple: framed elements in order, nothing after the last.
template <class Tuple, class... Ts>
struct ProductCodec {
  static std::size_t size_of(const Ts&... vs) {
    return (std::size_t{0} + ... + framed_size<Ts>(vs));
  }
  static void encode_all([[maybe_unused]] std::byte* p, const Ts&... vs) {
    ((p = encode_framed<Ts>(vs, p)), ...);
  }
  static Tuple decode_all(std::span<const std::byte> in) {
    // Braced initialisation evaluates the elements left to right.
    Tuple t{decode_framed<Ts>(in, typeid(Tuple))...};
    if (!in.empty()) {
      throw_decode_error(typeid(Tuple), "trailing bytes after the last element", in.size(), 0);
    }
    return t;
  }
};

template <class... Ts>
inline constexpr bool kAllFixed = (FixedSize<Ts> && ...);

}  // namespace detail

template <Encodable... Ts>
struct Codec<std::tuple<Ts...>> {
  using Tuple = std::tuple<Ts...>;
  using Impl = detail::ProductCodec<Tuple, Ts...>;

  static std::size_t size(const Tuple& t) {
    return std::apply([](const Ts&... vs) { return Impl::size_of(vs...); }, t);
  }
  static void encode(const Tuple& t, std::span<std::byte> out) {
    std::apply([&](const Ts&... vs) { Impl::encode_all(out.data(), vs...); }, t);
  }
  static Tuple decode(std::span<const std::byte> in) { return Impl::decode_all(in); }
};

template <Encodable A, Encodable B>
struct Codec<std::pair<A, B>> {
  using Pair = std::pair<A, B>;
  using Impl = detail::ProductCodec<Pair, A, B>;

  static std::size_t size(const Pair& p) { return Impl::size_of(p.first, p.second); }
  static void encode(const Pair& p, std::span<std::byte> out) {
    Impl::encode_all(out.data(), p.first, p.second);
  }
  static Pair decode(std::span<const std::byte> in) { return Impl::decode_all(in); }
};

// ---- compile-time refusal ------------------------------------------------------

namespace detail {

// Instantiated for every type that must cross a process boundary (Pool arguments and
// results, Queue items). A type without a codec stops the build here, once per type, and
// this is the first error: GCC and Clang print the type in the "In instantiation of
// MustTravel<T>" line just above it.
template <class T>
struct MustTravel {
  static_assert(Encodable<T>,
                "ringpool: this type cannot travel between processes (its name is in the "
                "'In instantiation of ringpool::pool::detail::MustTravel<T>' line above): a "
                "raw pointer, reference, string_view, span, unique_ptr, a class with private "
                "state and no Codec, or a struct with such a member or a reference or const "
                "member. Use a travelling type "
                "(a plain struct of values, std::string, std::vector, ...) or specialise "
                "ringpool::pool::Codec<T>, see ringpool/pool/codec.hpp");
  static constexpr bool value = true;  // the assertion above is the one error
};
template <>
struct MustTravel<void> {
  static constexpr bool value = true;
};

template <class... Ts>
inline constexpr bool kMustTravel = (MustTravel<std::remove_cvref_t<Ts>>::value && ...);

}  // namespace detail

// ---- whole-value helpers -------------------------------------------------------

// Encodes v into a new byte vector (allocates; hot paths encode into ring slots).
template <Encodable T>
std::vector<std::byte> to_bytes(const T& v) {
  std::vector<std::byte> out(Codec<T>::size(v));
  Codec<T>::encode(v, out);
  return out;
}

// Decodes a T from exactly these bytes; throws DecodeError.
template <Encodable T>
T from_bytes(std::span<const std::byte> in) {
  return Codec<T>::decode(in);
}

}  // namespace ringpool::pool

// The codecs of further standard types and of aggregates (they build on the above), and the
// type fingerprints of named queues and shared values.
#include "ringpool/pool/codec_aggregate.hpp"
#include "ringpool/pool/codec_std.hpp"
#include "ringpool/pool/type_tag.hpp"
