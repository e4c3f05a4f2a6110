#pragma once
// What the codec asks Boost.PFR about an aggregate, asked so that none of PFR's own
// static_asserts can fire: PFR is only consulted for a PlainAggregate (a class aggregate
// whose first element is no base class), and field types are inspected by a conversion
// probe that never names a member (C array members, which PFR cannot bind, stay
// harmless there).
#include <boost/pfr/core.hpp>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace ringpool::pool::detail {

// Converts only to a strict base class of T: T{BaseOnly<T>{}} compiles exactly when T's
// first aggregate element is a base class (PFR refuses such types with a static_assert).
template <class T>
struct BaseOnly {
  template <class B>
  requires(std::is_base_of_v<B, T> && !std::is_same_v<B, T>) operator B&() const noexcept;
};

// A class aggregate without base classes: Boost.PFR can count and bind its fields.
template <class T>
concept PlainAggregate =
    std::is_class_v<T> && std::is_aggregate_v<T> && !std::is_polymorphic_v<T> && !requires {
  T{BaseOnly<T>{}};
};

// Converts to a reference to any type; deleted for the types Pred refuses. A deleted
// conversion still counts as a conversion, so a refused member type makes the whole
// aggregate initialisation ill-formed instead of being skipped by brace elision.
template <template <class> class Pred>
struct FieldProbe {
  std::size_t index;
  template <class F>
  requires(Pred<std::remove_cv_t<F>>::value) operator F&() const noexcept;
  template <class F>
  requires(!Pred<std::remove_cv_t<F>>::value) operator F&() const noexcept = delete;
};

template <class T, template <class> class Pred, std::size_t... I>
constexpr bool fields_satisfy(std::index_sequence<I...>) {
  return requires {
    T{FieldProbe<Pred>{I}...};
  };
}

// True when every field of the PlainAggregate T (the elements of its C array members
// counted one by one, as PFR counts them) satisfies Pred.
template <class T, template <class> class Pred>
constexpr bool all_fields_satisfy() {
  return fields_satisfy<T, Pred>(std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
}

// Trivially copyable aggregates up to this size are checked field by field for members
// that cannot travel as bytes (pointers, bools); larger ones (big C array members would
// make the probe slow to compile) are taken as they are.
inline constexpr std::size_t kProbeLimit = 256;

// The field types of a PlainAggregate (binds them: not for types with C array members).
template <class T, std::size_t I>
using FieldType = std::remove_cv_t<boost::pfr::tuple_element_t<I, T>>;

}  // namespace ringpool::pool::detail
