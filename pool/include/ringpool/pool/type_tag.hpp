#pragma once
// type_tag<T>(): the fingerprint of a type that travels, checked when a named queue or a
// shared Value/Array is opened by another process (included by codec.hpp).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ringpool/pool/codec.hpp"

namespace ringpool::pool {

namespace detail {

template <class T>
constexpr std::string_view raw_type_signature() noexcept {
  return __PRETTY_FUNCTION__;
}

constexpr std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 14695981039346656037ULL) {
  for (const char c : s) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

// Bump when the wire format above changes.
inline constexpr std::uint64_t kCodecVersion = 1;

}  // namespace detail

namespace detail {

template <class T>
constexpr std::uint64_t type_tag_of() noexcept;

template <class T, std::size_t... I>
constexpr std::uint64_t fields_tag(std::uint64_t h, std::index_sequence<I...>) noexcept {
  ((h = fnv1a(std::string_view("|"), h ^ type_tag_of<FieldType<T, I>>())), ...);
  return h;
}

template <class T>
constexpr std::uint64_t type_tag_of() noexcept {
  std::uint64_t h = fnv1a(raw_type_signature<T>());
  h = fnv1a(std::string_view("|"), h ^ sizeof(T));
  h = fnv1a(std::string_view("|"), h ^ alignof(T));
  if constexpr (PlainAggregate<T> && !kIsRaw<T> && Encodable<T>) {
    // An aggregate sent field by field: its field types are part of what travels, so
    // two programs with differently laid out structs of one name disagree.
    h = fields_tag<T>(h, std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  }
  return h;
}

}  // namespace detail

// A stable 64-bit fingerprint of T (its spelled type, size, alignment, the fingerprints
// of the fields of an aggregate sent field by field, and the codec version). Equal in
// every process built by the same compiler from the same definitions; used to refuse
// opening a named queue as the wrong type.
template <class T>
constexpr std::uint64_t type_tag() noexcept {
  const std::uint64_t h = detail::type_tag_of<std::remove_cv_t<T>>();
  return detail::fnv1a(std::string_view("|"), h ^ detail::kCodecVersion);
}

}  // namespace ringpool::pool
