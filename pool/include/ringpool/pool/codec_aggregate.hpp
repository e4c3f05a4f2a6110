#pragma once
// Codec<T> for aggregates that are not sent as their bytes (a member is a std::string, a
// container, a bool, ...): each field framed in declaration order, as a std::tuple of the
// field types would be, through Boost.PFR. No user code. Included by codec.hpp.
//
// An aggregate here is a plain struct: public members, no user-declared constructors, no
// base classes, no virtual functions, no reference or const members, no C array members
// (use std::array). Trivially
// copyable aggregates of raw members take the memcpy path of codec.hpp instead.
#include <boost/pfr/core.hpp>
#include <cstddef>
#include <span>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/codec_reflect.hpp"

namespace ringpool::pool {

namespace detail {

template <class T, std::size_t... I>
constexpr bool fields_encodable(std::index_sequence<I...>) {
  return (Encodable<FieldType<T, I>> && ...);
}

// Aggregates this codec serves: not raw, not a std::array (codec_std.hpp), every field
// travelling (a pointer, reference or unique_ptr member makes the whole struct refused).
template <class T>
constexpr bool is_field_codec_aggregate() {
  if constexpr (!PlainAggregate<T> || kIsRaw<T> || kIsStdArray<T> || !kNoReferenceMembers<T>) {
    return false;
  } else {
    return fields_encodable<T>(std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  }
}

// When every field has a fixed size the aggregate has one too (no length prefix inside
// tuples and vectors; packed task items).
template <class T, class Indices = std::make_index_sequence<boost::pfr::tuple_size_v<T>>>
struct AggregateFixedSize {};
template <class T, std::size_t... I>
requires(FixedSize<FieldType<T, I>>&&...) struct AggregateFixedSize<T, std::index_sequence<I...>> {
  static constexpr std::size_t fixed_size =
      (std::size_t{0} + ... + min_framed_size<FieldType<T, I>>());
};

}  // namespace detail

template <class T>
requires(detail::is_field_codec_aggregate<T>()) struct Codec<T> : detail::AggregateFixedSize<T> {
 private:
  using Indices = std::make_index_sequence<boost::pfr::tuple_size_v<T>>;

  template <std::size_t... I>
  static std::size_t size_of([[maybe_unused]] const T& v, std::index_sequence<I...>) {
    return (std::size_t{0} + ... +
            detail::framed_size<detail::FieldType<T, I>>(boost::pfr::get<I>(v)));
  }
  template <std::size_t... I>
  static void encode_all([[maybe_unused]] const T& v, [[maybe_unused]] std::byte* p,
                         std::index_sequence<I...>) {
    ((p = detail::encode_framed<detail::FieldType<T, I>>(boost::pfr::get<I>(v), p)), ...);
  }
  template <std::size_t... I>
  static T decode_all([[maybe_unused]] std::span<const std::byte>& in, std::index_sequence<I...>) {
    // Braced initialisation evaluates the fields left to right.
    return T{detail::decode_framed<detail::FieldType<T, I>>(in, typeid(T))...};
  }

 public:
  static std::size_t size(const T& v) { return size_of(v, Indices{}); }
  static void encode(const T& v, std::span<std::byte> out) { encode_all(v, out.data(), Indices{}); }
  static T decode(std::span<const std::byte> in) {
    T value = decode_all(in, Indices{});
    if (!in.empty()) {
      detail::throw_decode_error(typeid(T), "trailing bytes after the last field", in.size(), 0);
    }
    return value;
  }
};

}  // namespace ringpool::pool
