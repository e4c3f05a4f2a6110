#pragma once
// Wire format of the Pool's rings, in one place: the task message (written by the parent
// in PoolCore's dispatcher via SendRequest::encode and write_item, read by the worker's
// invoke_items) and the result message (written by the worker's ResultWriter, read by the
// parent's ResultReader). Internal to ringpool::pool; the writers and readers of the
// non-template parts are in pool/src/task_wire.cpp.
//
// Task message (parent -> worker; SPSC task ring of one worker or the shared MPMC ring):
//   TaskHeader, then `count` items. Item = the call's arguments, each framed as in
//   Codec<std::tuple<P...>>. When every parameter has a fixed-size codec the items are
//   packed back to back (TaskHeader::item_size bytes each); otherwise each item is a u32
//   length followed by the bytes. A message whose items (with a task's state) do not fit
//   a slot has kind task_by_ref: after the header comes a PayloadRef (payload.hpp) naming
//   the payload segment that holds those bytes.
// Result message (worker -> parent; the worker's SPSC result ring):
//   ResultHeader, then `count` results for items first .. first + count - 1 of the task.
//   Result = u8 status, u32 length, then the bytes: status 0 = Codec<R> bytes of the
//   value (empty for void), status 1 = an error body (below), status 3 = a PayloadRef
//   naming the payload segment that holds a value too large for a message (payload.hpp).
//   An error body larger than a
//   message travels in pieces: items of status 2 (error part, not counted in the header's
//   `count`, possibly in messages of count 0) carry its first bytes, in order, and the
//   status-1 item that follows them carries the rest.
// Error body: u8 ErrorKind, u8 ErrorCategory (system_error only), u16 0, i32 error code
//   (system_error only), u64 registry key (registered types only), u32 type-name length,
//   demangled type name, what().
// Both sides come from the same binary, so layouts agree. With fork, function addresses
// agree too and travel as they are; spawn-started workers are re-executed copies where
// addresses differ, so there the header carries kRegisteredInvoker and the task's
// registry key (see spawn.hpp) instead. Every length is still checked before use
// (shared memory is treated as hostile).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/detail/stream_out.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

enum class MessageKind : std::uint32_t { task = 0x7a5c, task_by_ref = 0x7a5d, stop = 0x5709 };

struct TaskHeader {
  std::uint64_t task_id;    // parent's record id; never 0
  std::uint64_t invoker;    // address of an Invoker instantiation in this binary
  std::uint64_t fn;         // address of the user's function
  std::uint32_t kind;       // MessageKind
  std::uint32_t count;      // items in this message
  std::uint32_t skip;       // items already delivered before a retry: not run again
  std::uint32_t item_size;  // bytes per packed item, or kVariableItems
};
// TaskHeader::invoker for spawn-started workers: TaskHeader::fn is then the task's
// registry key. (1 is never the address of a function.)
inline constexpr std::uint64_t kRegisteredInvoker = 1;
// TaskHeader::item_size when each item carries a u32 length prefix.
inline constexpr std::uint32_t kVariableItems = 0xffffffffU;
static_assert(std::is_standard_layout_v<TaskHeader> && std::is_trivially_copyable_v<TaskHeader>);
static_assert(sizeof(TaskHeader) == 40);

struct ResultHeader {
  std::uint64_t task_id;
  std::uint32_t first;  // index (within the task) of the first result
  std::uint32_t count;  // results in this message
};
static_assert(std::is_standard_layout_v<ResultHeader> &&
              std::is_trivially_copyable_v<ResultHeader>);
static_assert(sizeof(ResultHeader) == 16);

inline constexpr std::size_t kResultItemHeader = 5;  // u8 status + u32 length
inline constexpr std::uint8_t kResultOk = 0;
inline constexpr std::uint8_t kResultError = 1;
inline constexpr std::uint8_t kResultErrorPart = 2;
inline constexpr std::uint8_t kResultValueRef = 3;

// How a task's exception comes back: as itself (a standard type, a system_error of a known
// category, a registered type) or as TaskFailed (other).
enum class ErrorKind : std::uint8_t {
  other = 0,  // TaskFailed with the type name and message
  exception,  // std::exception itself
  logic_error,
  invalid_argument,
  domain_error,
  length_error,
  out_of_range,
  runtime_error,
  range_error,
  overflow_error,
  underflow_error,
  bad_alloc,
  system_error,  // ErrorHead::category and ::code say which
  registered,    // ErrorHead::key names the RINGPOOL_EXCEPTION type
};
inline constexpr std::uint8_t kErrorKindCount = 14;
// The categories a std::system_error travels with (any other: ErrorKind::other).
enum class ErrorCategory : std::uint8_t { generic = 0, system, iostream, future };
inline constexpr std::uint8_t kErrorCategoryCount = 4;

// The fixed part of an error body. Read from shared memory as raw bytes: kind and category
// are plain integers here and are checked against their counts before use.
struct ErrorHead {
  std::uint8_t kind = 0;      // ErrorKind
  std::uint8_t category = 0;  // ErrorCategory
  std::int32_t code = 0;
  std::uint64_t key = 0;
};
inline constexpr std::size_t kErrorBodyPrefix = 20;  // kind, category, 0, code, key, type length
// Largest error body that travels (longer messages are cut to fit): bounds what the
// parent gathers from the pieces of one error.
inline constexpr std::size_t kMaxErrorBody = std::size_t{256} << 20U;

// Worker side: the head, type name and message of an in-flight exception (call inside a
// catch block or with a captured exception_ptr). Never throws.
struct CapturedError {
  ErrorHead head;
  std::string type_name;
  std::string what;
};
[[nodiscard]] CapturedError capture_error(const std::exception_ptr& error) noexcept;
// Parent side: the exception to rethrow for an error body read from a worker: the
// original type when `head` names one that travels, TaskFailed otherwise, DecodeError when
// the head is out of range.
[[nodiscard]] std::exception_ptr rebuild_error(const ErrorHead& head, std::string type_name,
                                               std::string what) noexcept;

inline void put_u32(std::byte* p, std::uint32_t v) noexcept {
  std::memcpy(p, &v, sizeof v);
}
inline std::uint32_t get_u32(const std::byte* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Worker side: accumulates one task's results into result messages and pushes each full
// message to the worker's result ring (flush). Not thread-safe; one per worker process.
class ResultWriter {
 public:
  // `buffer` holds one message (the result ring's slot size). `push` sends a message and
  // blocks while the ring is full.
  using PushFn = void (*)(void* context, std::span<const std::byte> message);
  ResultWriter(std::span<std::byte> buffer, PushFn push, void* context) noexcept
      : buf_(buffer), push_(push), context_(context) {}

  // Results larger than a message go through payload segments named by `names` (which
  // must outlive the writer), up to `limit` bytes. Without this call they are refused.
  // With `lanes`, values up to kLaneMax reuse the writer's lane (payload.hpp).
  void enable_large(const PayloadNames* names, std::size_t limit,
                    PayloadLanes* lanes = nullptr) noexcept {
    payloads_ = names;
    payload_limit_ = limit;
    lanes_ = lanes;
  }

  // Starts the results of task `task_id`, beginning at item `first`.
  void begin(std::uint64_t task_id, std::uint32_t first) noexcept {
    task_id_ = task_id;
    first_ = first;
    count_ = 0;
    used_ = sizeof(ResultHeader);
  }
  // Room for a successful result of n bytes: in the message, or (n larger than a message
  // can hold) in a new payload segment. Empty span and no effect when n is above
  // value_limit(): the caller reports PayloadTooLarge instead. Throws PoolError when no
  // payload segment can be created.
  [[nodiscard]] std::span<std::byte> begin_value(std::size_t n) {
    if (n > max_value_size()) return begin_large(n);
    if (used_ + kResultItemHeader + n > buf_.size()) flush();
    std::byte* p = buf_.data() + used_;
    p[0] = std::byte{kResultOk};
    put_u32(p + 1, static_cast<std::uint32_t>(n));
    pending_ = kResultItemHeader + n;
    return {p + kResultItemHeader, n};
  }
  void end_value() noexcept {
    if (large_) {
      end_large();
      return;
    }
    used_ += pending_;
    ++count_;
  }
  // After begin_value: the value's room is in the writer's lane, so it can be streamed.
  [[nodiscard]] bool streams() const noexcept { return large_ && large_.in_lane(); }
  // Instead of encoding into the room and end_value() when streams(): sends the reference
  // at once (flushing the message) and then copies the room's bytes from `from` while the
  // parent decodes behind (detail/stream_in.hpp). For a kBulk value, whose encoding
  // is its bytes. Throws as flush().
  void end_value_streamed(const std::byte* from);
  // Records a failed item: the exception's head, type name and message. A body larger
  // than a message is sent in parts (it may flush); one larger than kMaxErrorBody is cut.
  void error(const ErrorHead& head, std::string_view type_name, std::string_view what);
  // Records a failed item that comes back as TaskFailed(type_name, what).
  void error(std::string_view type_name, std::string_view what) {
    error(ErrorHead{}, type_name, what);
  }
  // Records the exception being handled (call inside a catch block).
  void current_exception_as_error();
  // Sends what has been accumulated (nothing when empty).
  void flush();

  // Bytes of a result message an item's bytes can fill (after the message and item headers).
  [[nodiscard]] std::size_t max_value_size() const noexcept {
    return buf_.size() - sizeof(ResultHeader) - kResultItemHeader;
  }
  // The largest result that can travel (by reference when larger than max_value_size()).
  [[nodiscard]] std::size_t value_limit() const noexcept {
    return payloads_ != nullptr ? std::max(payload_limit_, max_value_size()) : max_value_size();
  }

 private:
  // Cold halves of begin_value / end_value for a value in a payload segment.
  std::span<std::byte> begin_large(std::size_t n);
  void end_large() noexcept;
  void put_reference() noexcept;

  std::span<std::byte> buf_;
  PushFn push_;
  void* context_;
  std::uint64_t task_id_ = 0;
  std::uint32_t first_ = 0;
  std::uint32_t count_ = 0;
  std::size_t used_ = sizeof(ResultHeader);
  std::size_t pending_ = 0;
  const PayloadNames* payloads_ = nullptr;
  std::size_t payload_limit_ = 0;
  PayloadLanes* lanes_ = nullptr;
  OutgoingPayload large_;  // the value being encoded by reference, if any
};

// Parent side: walks one result message (ResultHeader, then items). The message lies in
// shared memory written by another process: every length is read once into a local and
// checked against the bytes left before anything is read through it.
class ResultReader {
 public:
  enum class ItemKind { value, value_ref, error, error_part };
  struct Item {
    ItemKind kind = ItemKind::value;   // error_part: leading bytes of the next error's body
    std::span<const std::byte> bytes;  // Codec bytes of the value, a PayloadRef (value_ref),
                                       // or (part of) the error body
  };
  enum class Next { item, end, truncated };

  // False when the message is too short for a header.
  [[nodiscard]] bool open(std::span<const std::byte> message) noexcept {
    if (message.size() < sizeof(ResultHeader)) return false;
    std::memcpy(&header_, message.data(), sizeof header_);
    rest_ = message.subspan(sizeof(ResultHeader));
    read_ = 0;
    return true;
  }
  [[nodiscard]] const ResultHeader& header() const noexcept { return header_; }
  // The next item (error parts included): `end` once the message is consumed after the
  // header's `count` items, `truncated` when the message ends inside an item or before
  // `count` items, or holds more than `count` (the rest cannot be framed). Inline: the
  // collector's per-item path.
  [[nodiscard]] Next next(Item& out) noexcept {
    if (rest_.empty()) return read_ == header_.count ? Next::end : Next::truncated;
    if (rest_.size() < kResultItemHeader) return Next::truncated;
    // Read once, then checked: a worker may rewrite the bytes while we look.
    const auto status = std::to_integer<std::uint8_t>(rest_[0]);
    const std::uint32_t len = get_u32(rest_.data() + 1);
    if (rest_.size() - kResultItemHeader < len) return Next::truncated;
    switch (status) {
      case kResultOk:
        out.kind = ItemKind::value;
        break;
      case kResultError:
        out.kind = ItemKind::error;
        break;
      case kResultErrorPart:
        out.kind = ItemKind::error_part;
        break;
      case kResultValueRef:
        out.kind = ItemKind::value_ref;
        break;
      default:
        return Next::truncated;
    }
    if (out.kind != ItemKind::error_part) {
      if (read_ == header_.count) return Next::truncated;  // more items than announced
      ++read_;
    }
    out.bytes = rest_.subspan(kResultItemHeader, len);
    rest_ = rest_.subspan(kResultItemHeader + len);
    return Next::item;
  }

  // After next() returned a value item of `len` bytes: consumes the value items of the same
  // length that follow it back to back, at most `most`, and returns how many (each checked
  // as next() checks an item; the first other item stops the run and is left for next()).
  // Inline: map()'s per-item path.
  [[nodiscard]] std::uint32_t take_run(std::uint32_t len, std::uint32_t most) noexcept {
    const std::size_t step = kResultItemHeader + std::size_t{len};
    const std::uint32_t limit = std::min(most, header_.count - read_);
    const std::byte* p = rest_.data();
    std::size_t left = rest_.size();
    std::uint32_t n = 0;
    while (n < limit && left >= step && std::to_integer<std::uint8_t>(p[0]) == kResultOk &&
           get_u32(p + 1) == len) {
      p += step;
      left -= step;
      ++n;
    }
    rest_ = {p, left};
    read_ += n;
    return n;
  }

  // The exception an error body stands for (see rebuild_error); DecodeError when the body is
  // malformed. Allocates; never throws.
  [[nodiscard]] static std::exception_ptr error_of(std::span<const std::byte> body) noexcept;

 private:
  ResultHeader header_{};
  std::span<const std::byte> rest_;
  std::uint32_t read_ = 0;
};

// Runs the items of one task message in a worker.
using Invoker = void (*)(std::uint64_t fn, const TaskHeader& header,
                         std::span<const std::byte> items, ResultWriter& out);

template <class Q>
constexpr std::size_t fixed_size_or_zero() {
  if constexpr (FixedSize<Q>) {
    return Codec<Q>::fixed_size;
  } else {
    return 0;
  }
}

// Encoded arguments of one call: framed elements in order (Codec<tuple<P...>> layout).
template <class... P>
struct ArgsCodec {
  // Arguments that cannot travel stop the build here with one clear static_assert.
  static_assert(kMustTravel<P...>);
  static constexpr bool kPacked = kAllFixed<P...>;
  static constexpr std::size_t kPackedSize = (std::size_t{0} + ... + fixed_size_or_zero<P>());
  static std::size_t size(const P&... args) {
    return (std::size_t{0} + ... + framed_size<P>(args));
  }
  static void encode(std::byte* out, const P&... args) {
    ((out = encode_framed<P>(args, out)), ...);
  }
  static std::tuple<P...> decode(std::span<const std::byte> in) {
    return ProductCodec<std::tuple<P...>, P...>::decode_all(in);
  }
};

// Runs one item: decodes its arguments and records call(args...)'s result or exception.
template <class R, class... P, class Call>
void run_item(Call& call, std::span<const std::byte> item, ResultWriter& out) {
  try {
    auto args = ArgsCodec<std::decay_t<P>...>::decode(item);
    if constexpr (std::is_void_v<R>) {
      std::apply(call, std::move(args));
      (void)out.begin_value(0);
      out.end_value();
    } else {
      const R result = std::apply(call, std::move(args));
      const std::size_t n = Codec<R>::size(result);
      const std::span<std::byte> room = out.begin_value(n);
      if (room.size() != n || (n > 0 && room.data() == nullptr)) {
        throw PayloadTooLarge(n, out.value_limit(), "task result",
                              PayloadTooLarge::OverLimit{"PoolOptions::max_payload"});
      }
      if constexpr (kBulk<R>) {
        if (n >= kStreamMin && out.streams()) {
          out.end_value_streamed(reinterpret_cast<const std::byte*>(result.data()));
          return;
        }
      }
      Codec<R>::encode(result, room);
      out.end_value();
    }
  } catch (...) {
    out.current_exception_as_error();
  }
}

// Runs the items of one task message with `call` (see the task message layout above).
template <class R, class... P, class Call>
void run_items(Call& call, const TaskHeader& h, std::span<const std::byte> items,
               ResultWriter& out) {
  using Args = ArgsCodec<std::decay_t<P>...>;
  std::size_t offset = 0;
  for (std::uint32_t i = 0; i < h.count; ++i) {
    std::span<const std::byte> item;
    if (h.item_size != kVariableItems) {
      if (h.item_size != Args::kPackedSize || items.size() - offset < h.item_size) {
        out.error("ringpool::pool::DecodeError", "task message item is truncated or mis-sized");
        continue;
      }
      item = items.subspan(offset, h.item_size);
      offset += h.item_size;
    } else {
      // The length is read once (the message is shared memory) and checked before use.
      const std::uint32_t len = items.size() - offset < sizeof(std::uint32_t)
                                    ? 0xffffffffU
                                    : get_u32(items.data() + offset);
      if (items.size() - offset < sizeof(std::uint32_t) ||
          items.size() - offset - sizeof(std::uint32_t) < len) {
        // Framing is lost: every remaining item fails.
        out.error("ringpool::pool::DecodeError", "task message item length is out of bounds");
        offset = items.size();
        continue;
      }
      item = items.subspan(offset + sizeof(std::uint32_t), len);
      offset += sizeof(std::uint32_t) + len;
    }
    if (i < h.skip) continue;
    run_item<R, P...>(call, item, out);
  }
}

// The Invoker for functions of type R(P...): TaskHeader::fn is the function's address.
// Its return type checks, when its address is taken (TaskOf::kInvoker), that the result
// and the arguments travel: a type that cannot stops the build with MustTravel's
// static_assert as the first error.
template <class R, class... P>
std::enable_if_t<kMustTravel<R, P...>> invoke_items(std::uint64_t fn_bits, const TaskHeader& h,
                                                    std::span<const std::byte> items,
                                                    ResultWriter& out) {
  auto* fn = reinterpret_cast<R (*)(P...)>(static_cast<std::uintptr_t>(fn_bits));
  run_items<R, P...>(fn, h, items, out);
}

// How a callable object's state travels ahead of a message's items: through its Codec
// when it has one, else as its bytes (trivially copyable: a closure of trivially copyable
// captures, a member function pointer), nothing for an empty one.
template <class S>
struct StateCodec {
  static constexpr bool kTravels =
      Encodable<S> || (std::is_trivially_copyable_v<S> && std::is_object_v<S>);
  static std::size_t size(const S& s) {
    if constexpr (Encodable<S>) {
      return Codec<S>::size(s);
    } else if constexpr (std::is_empty_v<S>) {
      return 0;
    } else {
      return sizeof(S);
    }
  }
  static void encode(const S& s, std::byte* out) {
    if constexpr (Encodable<S>) {
      Codec<S>::encode(s, std::span<std::byte>(out, Codec<S>::size(s)));
    } else if constexpr (!std::is_empty_v<S>) {
      std::memcpy(out, &s, sizeof(S));
    }
  }
  static S decode(std::span<const std::byte> in) {
    if constexpr (Encodable<S>) {
      return Codec<S>::decode(in);
    } else {
      constexpr std::size_t kSize = std::is_empty_v<S> ? 0 : sizeof(S);
      if (in.size() != kSize) {
        throw_decode_error(typeid(S), "wrong size of a task's state", in.size(), kSize);
      }
      // Not std::bit_cast: once Boost.PFR's aggregate checks have looked at a closure type,
      // GCC 12 no longer sees it as trivially copyable there. memcpy into suitably aligned
      // bytes creates the (implicit-lifetime) object; it is then copied out.
      alignas(S) std::byte bytes[sizeof(S)];
      if (!in.empty()) std::memcpy(bytes, in.data(), sizeof(S));
      return *std::launder(reinterpret_cast<S*>(bytes));
    }
  }
};

// The Invoker for a callable object S (a function object, a closure, a member function
// pointer) called with P...: the message's payload starts with the object's state (u32
// length, StateCodec<S> bytes), then the items. TaskHeader::fn only names the task. The
// return type checks that the result and arguments travel, as invoke_items' does.
template <class S, class R, class... P>
std::enable_if_t<kMustTravel<R, P...>> invoke_stateful(std::uint64_t, const TaskHeader& h,
                                                       std::span<const std::byte> payload,
                                                       ResultWriter& out) {
  const auto fail_all = [&](std::string_view why) {
    for (std::uint32_t i = h.skip; i < h.count; ++i) {
      out.error("ringpool::pool::DecodeError", why);
    }
  };
  if (payload.size() < sizeof(std::uint32_t)) {
    fail_all("task message has no room for the task's state");
    return;
  }
  const std::uint32_t len = get_u32(payload.data());  // read once, then checked
  if (payload.size() - sizeof(std::uint32_t) < len) {
    fail_all("task message state length is out of bounds");
    return;
  }
  bool decoded = false;
  try {
    // (Not std::optional<S>: instantiating it for a closure type makes GCC 12 see the
    // closure as not trivially copyable.)
    S state = StateCodec<S>::decode(payload.subspan(sizeof(std::uint32_t), len));
    decoded = true;
    auto call = [&state](auto&&... args) -> R {
      return std::invoke(state, std::forward<decltype(args)>(args)...);
    };
    run_items<R, P...>(call, h, payload.subspan(sizeof(std::uint32_t) + len), out);
  } catch (...) {
    if (decoded) throw;  // not from the task (run_item catches those): as for functions
    for (std::uint32_t i = h.skip; i < h.count; ++i) out.current_exception_as_error();
  }
}

// Parent side: bytes one item takes in a task message.
template <class... P>
std::size_t item_bytes(const P&... args) {
  if constexpr (ArgsCodec<P...>::kPacked) {
    return ArgsCodec<P...>::kPackedSize;
  } else {
    return sizeof(std::uint32_t) + ArgsCodec<P...>::size(args...);
  }
}
// Writes one item at out (exactly item_bytes(args...) bytes).
template <class... P>
void write_item(std::byte* out, const P&... args) {
  if constexpr (ArgsCodec<P...>::kPacked) {
    ArgsCodec<P...>::encode(out, args...);
  } else {
    put_u32(out, static_cast<std::uint32_t>(ArgsCodec<P...>::size(args...)));
    ArgsCodec<P...>::encode(out + sizeof(std::uint32_t), args...);
  }
}
// As write_item, leaving the large contiguous arguments' bytes to the caller (`later`).
template <class... P>
void write_item_later(std::byte* out, BulkCopies& later, const P&... args) {
  if constexpr (ArgsCodec<P...>::kPacked) {
    ArgsCodec<P...>::encode(out, args...);  // fixed-size arguments: none is large
  } else {
    put_u32(out, static_cast<std::uint32_t>(ArgsCodec<P...>::size(args...)));
    out += sizeof(std::uint32_t);
    ((out = encode_framed_later<P>(args, out, later)), ...);
  }
}

}  // namespace ringpool::pool::detail
