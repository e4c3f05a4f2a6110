#pragma once
// What the Pool's templates know about a task: its function pointer, result and argument
// types (FnTraits), how one map()/starmap() input becomes its argument tuple (to_args) and
// how that tuple is written as one item of a task message (ItemCodec).
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/task_wire.hpp"

namespace ringpool::pool::detail {

template <class F>
concept FunctionPointer = std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;

// Captureless lambdas and function pointers to a function pointer.
template <class F>
auto as_function_pointer(F f) {
  if constexpr (FunctionPointer<F>) {
    return f;
  } else {
    static_assert(std::is_convertible_v<F, decltype(+f)>,
                  "ringpool: a task must be a plain function or a captureless lambda (it must "
                  "convert to a function pointer so the worker can call it)");
    return +f;
  }
}

template <class T>
struct FnTraits;
template <class R, class... P>
struct FnTraits<R (*)(P...)> {
  using Result = R;
  using Args = std::tuple<std::decay_t<P>...>;
  static constexpr Invoker kInvoker = &invoke_items<R, P...>;
};
template <class R, class... P>
struct FnTraits<R (*)(P...) noexcept> {
  using Result = R;
  using Args = std::tuple<std::decay_t<P>...>;
  static constexpr Invoker kInvoker = &invoke_items<R, P...>;
};

// Converts one input of map() (a single argument) or starmap() (a tuple) to the
// function's argument tuple, without copying when the types already match.
template <class Args, bool Star, class T>
decltype(auto) to_args(const T& item) {
  if constexpr (Star) {
    if constexpr (std::is_same_v<std::remove_cvref_t<T>, Args>) {
      return (item);
    } else {
      return std::make_from_tuple<Args>(item);
    }
  } else {
    static_assert(std::tuple_size_v<Args> == 1,
                  "ringpool: map/imap call a one-parameter function; use starmap for several");
    if constexpr (std::is_same_v<std::remove_cvref_t<T>, std::tuple_element_t<0, Args>>) {
      return std::tuple<const T&>(item);
    } else {
      return Args(item);
    }
  }
}

template <class Args>
struct ItemCodec;
template <class... P>
struct ItemCodec<std::tuple<P...>> {
  static constexpr bool kPacked = ArgsCodec<P...>::kPacked;
  static constexpr std::uint32_t item_size() {
    return kPacked ? static_cast<std::uint32_t>(ArgsCodec<P...>::kPackedSize) : kVariableItems;
  }
  template <class Tuple>
  static std::size_t bytes(const Tuple& t) {
    return std::apply([](const auto&... a) { return item_bytes<P...>(a...); }, t);
  }
  template <class Tuple>
  static void write(std::byte* out, const Tuple& t) {
    std::apply([out](const auto&... a) { write_item<P...>(out, a...); }, t);
  }
};

}  // namespace ringpool::pool::detail
