#pragma once
// What the Pool's templates know about a task (TaskOf): the callable as it travels, its
// result and argument types, its Invoker and how its state (if any) is written ahead of
// the items; how one map()/starmap() input becomes its argument tuple (to_args) and how
// that tuple is written as one item of a task message (ItemCodec).
//
// Three kinds of task:
//  - a plain function (or a captureless, non-generic lambda, converted to one): travels as
//    its address (fork) or its registry key (spawn, RINGPOOL_TASK); no state.
//  - a function object (a capturing or generic lambda, a struct with operator()): its
//    state travels ahead of each message's items (StateCodec); with spawn its type must be
//    registered (RINGPOOL_FUNCTOR). A generic one takes its parameter types from the
//    arguments given (submit) or the input's element type (map, imap, starmap).
//  - a member function pointer: the pointer is the state, the object the first argument.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/task_wire.hpp"

namespace ringpool::pool::detail {

template <class F>
concept FunctionPointer = std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;

// A class with one non-template operator() (not a generic lambda, not overloaded).
template <class F>
concept HasUniqueCall = std::is_class_v<F> && requires {
  &F::operator();
};

// A captureless, non-generic lambda (or a class converting to a function pointer).
template <class F>
concept ConvertsToFunctionPointer = std::is_class_v<F> && HasUniqueCall<F> && requires(F f) {
  { +f } -> FunctionPointer;
};

// The signature of a unique operator() or of a member function.
template <class M>
struct MemberSignature;
#define RINGPOOL_DETAIL_MEMBER_SIGNATURE(quals)           \
  template <class C, class R, class... P>                 \
  struct MemberSignature<R (C::*)(P...) quals> {          \
    using Class = C;                                      \
    using Result = R;                                     \
    using Params = std::tuple<std::decay_t<P>...>;        \
  };                                                      \
  template <class C, class R, class... P>                 \
  struct MemberSignature<R (C::*)(P...) quals noexcept> { \
    using Class = C;                                      \
    using Result = R;                                     \
    using Params = std::tuple<std::decay_t<P>...>;        \
  };
RINGPOOL_DETAIL_MEMBER_SIGNATURE()
RINGPOOL_DETAIL_MEMBER_SIGNATURE(const)
RINGPOOL_DETAIL_MEMBER_SIGNATURE(&)
RINGPOOL_DETAIL_MEMBER_SIGNATURE(const&)
#undef RINGPOOL_DETAIL_MEMBER_SIGNATURE

template <class F, class Params>
struct InvokeResult;
template <class F, class... P>
struct InvokeResult<F, std::tuple<P...>> {
  using type = std::invoke_result_t<F&, P...>;
};
template <class F, class Params>
inline constexpr bool kInvocableWith = false;
template <class F, class... P>
inline constexpr bool kInvocableWith<F, std::tuple<P...>> = std::is_invocable_v<F&, P...>;

// The refusals, each with the message that must be the compiler's first error. Checked
// by Pool's entry points before anything else is instantiated from F.
template <class F, class Hint>
constexpr bool check_task() {
  static_assert(!kIsSpecialization<F, std::function>,
                "ringpool: a std::function cannot be a task: its target is type-erased and "
                "cannot travel to a worker process. Pass the function, lambda or function "
                "object itself (a struct with operator() and travelling members)");
  static_assert(!kIsSpecialization<F, std::reference_wrapper>,
                "ringpool: a std::reference_wrapper cannot be a task: a reference cannot "
                "travel to a worker process. Pass the function object itself (by value)");
  static_assert(!std::is_pointer_v<F> || FunctionPointer<F>,
                "ringpool: a pointer to an object cannot be a task: it would point into this "
                "process. Pass the function object itself (by value)");
  static_assert(std::is_class_v<F> || FunctionPointer<F> || std::is_member_function_pointer_v<F>,
                "ringpool: a task must be a function, a lambda, a function object or a member "
                "function pointer");
  if constexpr (std::is_class_v<F> && !ConvertsToFunctionPointer<F>) {
    static_assert(StateCodec<F>::kTravels,
                  "ringpool: this function object cannot travel to a worker process: it is not "
                  "trivially copyable and has no Codec (e.g. a lambda capturing a std::string "
                  "or a vector). Capture only trivially copyable values, by value, and pass "
                  "the rest as task arguments; or write a struct functor whose members have a "
                  "Codec");
    if constexpr (!HasUniqueCall<F>) {
      static_assert(kInvocableWith<F, Hint>,
                    "ringpool: this generic (or overloaded) function object cannot be called "
                    "with the argument types given: its parameter types are taken from the "
                    "arguments of submit() (decayed) or the element type of the map/imap "
                    "input; pass arguments of the types it expects");
    }
  }
  return true;
}

template <class F, class Hint>
struct TaskOf;

// Plain functions: the address travels; no state.
template <class R, class... P, class Hint>
struct TaskOf<R (*)(P...), Hint> {
  using Fn = R (*)(P...);
  using Result = R;
  using Args = std::tuple<std::decay_t<P>...>;
  static constexpr bool kStateful = false;
  static constexpr Invoker kInvoker = &invoke_items<R, P...>;
  static Fn prepare(Fn f) noexcept { return f; }
  static std::uint64_t fn_word(Fn f) noexcept { return reinterpret_cast<std::uintptr_t>(f); }
};
template <class R, class... P, class Hint>
struct TaskOf<R (*)(P...) noexcept, Hint> : TaskOf<R (*)(P...), Hint> {
  using Fn = R (*)(P...) noexcept;
  static Fn prepare(Fn f) noexcept { return f; }
  static std::uint64_t fn_word(Fn f) noexcept { return reinterpret_cast<std::uintptr_t>(f); }
};

// A callable object whose state travels ahead of the items.
template <class S, class R, class Params>
struct StatefulTask;
template <class S, class R, class... P>
struct StatefulTask<S, R, std::tuple<P...>> {
  using Fn = S;
  using Result = R;
  using Args = std::tuple<P...>;
  static constexpr bool kStateful = true;
  static constexpr Invoker kInvoker = &invoke_stateful<S, R, P...>;
  static const S& prepare(const S& s) noexcept { return s; }
  // Names the task: the invoker's address (the registry key with spawn, RINGPOOL_FUNCTOR).
  static std::uint64_t fn_word(const S&) noexcept {
    return reinterpret_cast<std::uintptr_t>(kInvoker);
  }
  static std::size_t state_bytes(const S& s) {
    return sizeof(std::uint32_t) + StateCodec<S>::size(s);
  }
  static void write_state(std::byte* out, const S& s) {
    put_u32(out, static_cast<std::uint32_t>(StateCodec<S>::size(s)));
    StateCodec<S>::encode(s, out + sizeof(std::uint32_t));
  }
};

template <class M>
struct MemberTaskArgs {
  using Sig = MemberSignature<M>;
  using type = decltype(std::tuple_cat(std::tuple<std::remove_cv_t<typename Sig::Class>>(),
                                       typename Sig::Params()));
};

// Member function pointers: the pointer is the state, the object the first argument.
template <class M, class Hint>
requires std::is_member_function_pointer_v<M>
struct TaskOf<M, Hint>
    : StatefulTask<M, typename MemberSignature<M>::Result, typename MemberTaskArgs<M>::type> {
};

// Function objects with one operator(): its parameters.
template <class F, class Hint>
requires(HasUniqueCall<F> && !ConvertsToFunctionPointer<F>) struct TaskOf<F, Hint>
    : StatefulTask<F, typename MemberSignature<decltype(&F::operator())>::Result,
                   typename MemberSignature<decltype(&F::operator())>::Params> {
};

// Captureless lambdas: converted to a function pointer.
template <class F, class Hint>
requires ConvertsToFunctionPointer<F>
struct TaskOf<F, Hint> : TaskOf<decltype(+std::declval<F>()), Hint> {
  static auto prepare(F f) noexcept { return +f; }
};

// Generic (or overloaded) function objects: the parameter types are the hint's.
template <class F, class Hint>
requires(std::is_class_v<F> && !HasUniqueCall<F>) struct TaskOf<F, Hint>
    : StatefulTask<F, typename InvokeResult<F, Hint>::type, Hint> {
};

// The parameter types a generic callable gets: the decayed arguments of submit(), the
// element type of a map/imap input, the element types of a starmap tuple.
template <class... A>
using SubmitHint = std::tuple<std::remove_cvref_t<A>...>;
template <class T>
struct TupleHint;
template <class... T>
struct TupleHint<std::tuple<T...>> {
  using type = std::tuple<std::remove_cvref_t<T>...>;
};
template <class A, class B>
struct TupleHint<std::pair<A, B>> {
  using type = std::tuple<std::remove_cvref_t<A>, std::remove_cvref_t<B>>;
};
template <class Range, bool Star>
struct MapHintOf {
  using type = std::tuple<std::remove_cvref_t<std::ranges::range_reference_t<Range>>>;
};
template <class Range>
struct MapHintOf<Range, true> {
  using type = typename TupleHint<std::remove_cvref_t<std::ranges::range_reference_t<Range>>>::type;
};
template <class Range, bool Star>
using MapHint = typename MapHintOf<Range, Star>::type;

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

// What submit() encodes from: the caller's argument itself when it already has the
// parameter's type (no copy: a 16 MiB vector is read once, by the encoder), else the
// argument converted to the parameter's type.
template <class P, class A>
using ArgView = std::conditional_t<std::is_same_v<std::remove_cvref_t<A>, P>, const P&, P>;
template <class Args, class... A>
struct ArgViews;
template <class... P, class... A>
struct ArgViews<std::tuple<P...>, A...> {
  using type = std::tuple<ArgView<P, A>...>;
};

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
  template <class Tuple>
  static void write_later(std::byte* out, const Tuple& t, BulkCopies& later) {
    std::apply([out, &later](const auto&... a) { write_item_later<P...>(out, later, a...); }, t);
  }
};

}  // namespace ringpool::pool::detail
