#pragma once
// Codec<T> for further standard types: std::array of non-raw elements, std::map,
// std::unordered_map and std::variant. Included by codec.hpp (wire format there).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <variant>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool {

// std::array<T, N> of elements that are not raw (raw ones are sent as bytes): N framed
// elements, no count.
template <Encodable T, std::size_t N>
requires(!detail::kIsRaw<std::array<T, N>> &&
         std::is_default_constructible_v<T>) struct Codec<std::array<T, N>> {
  using Array = std::array<T, N>;

  static std::size_t size(const Array& a) {
    std::size_t n = 0;
    for (const auto& e : a) n += detail::framed_size<T>(e);
    return n;
  }
  static void encode(const Array& a, std::span<std::byte> out) {
    std::byte* p = out.data();
    for (const auto& e : a) p = detail::encode_framed<T>(e, p);
  }
  static Array decode(std::span<const std::byte> in) {
    Array a;
    for (auto& e : a) e = detail::decode_framed<T>(in, typeid(Array));
    if (!in.empty()) {
      detail::throw_decode_error(typeid(Array), "trailing bytes after the last element", in.size(),
                                 0);
    }
    return a;
  }
};

namespace detail {

// std::map and std::unordered_map: a count, then each key and value framed. A repeated
// key is refused (it cannot come from a real map), and for std::map so is a key out of
// order, so every accepted input is exactly what encoding the result gives back.
template <class Map, class K, class V, bool Ordered>
struct MapCodec {
  static std::size_t size(const Map& m) {
    std::size_t n = kLengthPrefix;
    for (const auto& [k, v] : m) n += framed_size<K>(k) + framed_size<V>(v);
    return n;
  }
  static void encode(const Map& m, std::span<std::byte> out) {
    std::byte* p = out.data();
    store_u64(p, m.size());
    p += kLengthPrefix;
    for (const auto& [k, v] : m) {
      p = encode_framed<K>(k, p);
      p = encode_framed<V>(v, p);
    }
  }
  static Map decode(std::span<const std::byte> in) {
    const std::size_t count =
        decode_count(in, min_framed_size<K>() + min_framed_size<V>(), typeid(Map));
    Map m;
    if constexpr (!Ordered) m.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      K key = decode_framed<K>(in, typeid(Map));
      V value = decode_framed<V>(in, typeid(Map));
      if constexpr (Ordered) {
        if (!m.empty() && !m.key_comp()(std::prev(m.end())->first, key)) {
          throw_decode_error(typeid(Map), "a key repeated or out of key order");
        }
        m.emplace_hint(m.end(), std::move(key), std::move(value));
      } else {
        if (!m.emplace(std::move(key), std::move(value)).second) {
          throw_decode_error(typeid(Map), "a key repeated");
        }
      }
    }
    if (!in.empty()) {
      throw_decode_error(typeid(Map), "trailing bytes after the last element", in.size(), 0);
    }
    return m;
  }
};

}  // namespace detail

template <Encodable K, Encodable V, class Compare, class Alloc>
requires(detail::min_framed_size<K>() + detail::min_framed_size<V>() >
         0) struct Codec<std::map<K, V, Compare, Alloc>>
    : detail::MapCodec<std::map<K, V, Compare, Alloc>, K, V, true> {
};

template <Encodable K, Encodable V, class Hash, class Equal, class Alloc>
requires(detail::min_framed_size<K>() + detail::min_framed_size<V>() >
         0) struct Codec<std::unordered_map<K, V, Hash, Equal, Alloc>>
    : detail::MapCodec<std::unordered_map<K, V, Hash, Equal, Alloc>, K, V, false> {
};

// std::variant<Ts...>: the u32 index of the held alternative, then its bytes. A valueless
// variant (an exception escaped an assignment) cannot travel: size() throws
// InvalidArgument before anything is written.
template <Encodable... Ts>
struct Codec<std::variant<Ts...>> {
  using Variant = std::variant<Ts...>;
  static constexpr std::size_t kIndexBytes = sizeof(std::uint32_t);

  static std::size_t size(const Variant& v) {
    if (v.valueless_by_exception()) {
      throw InvalidArgument(
          "ringpool: a valueless std::variant (an exception escaped an assignment to it) "
          "cannot travel");
    }
    return kIndexBytes + std::visit([]<class A>(const A& alt) { return Codec<A>::size(alt); }, v);
  }
  static void encode(const Variant& v, std::span<std::byte> out) {
    const auto index = static_cast<std::uint32_t>(v.index());
    std::memcpy(out.data(), &index, kIndexBytes);
    std::visit([out]<class A>(const A& alt) { Codec<A>::encode(alt, out.subspan(kIndexBytes)); },
               v);
  }
  static Variant decode(std::span<const std::byte> in) {
    if (in.size() < kIndexBytes) {
      detail::throw_decode_error(typeid(Variant), "truncated alternative index", in.size(),
                                 kIndexBytes);
    }
    std::uint32_t index = 0;
    std::memcpy(&index, in.data(), kIndexBytes);
    if (index >= sizeof...(Ts)) {
      detail::throw_decode_error(typeid(Variant), "alternative index out of range", index,
                                 sizeof...(Ts) - 1);
    }
    return kDecoders[index](in.subspan(kIndexBytes));
  }

 private:
  template <std::size_t I>
  static Variant decode_alternative(std::span<const std::byte> in) {
    using A = std::variant_alternative_t<I, Variant>;
    return Variant(std::in_place_index<I>, Codec<A>::decode(in));
  }
  using Decoder = Variant (*)(std::span<const std::byte>);
  static constexpr auto kDecoders = []<std::size_t... I>(std::index_sequence<I...>) {
    return std::array<Decoder, sizeof...(I)>{&decode_alternative<I>...};
  }
  (std::index_sequence_for<Ts...>{});
};

}  // namespace ringpool::pool
