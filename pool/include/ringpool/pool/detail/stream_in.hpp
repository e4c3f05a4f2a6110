#pragma once
// The receiving side of streamed values (internal to ringpool::pool): what the string and
// packed-vector decoders of codec.hpp consult before they read a large run of bytes. The
// sending side is detail/stream_out.hpp; the lanes that carry such values, payload.hpp.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

// Streamed input (docs/codec.md, "Streaming"): a Pool task's large arguments (or its result)
// may still be being written by the parent (or the worker) while the other side decodes
// them. The sender writes every other byte first and then the contiguous bytes of each
// std::string and packed std::vector of at least kStreamMin bytes, in order, publishing how
// far it has got; the decoders of those two types read such a run no further than
// published. Other decoders never see unwritten bytes. Only the receiving thread's installed
// stream (below) is consulted, and only for input that lies inside it.
inline constexpr std::size_t kStreamMin = std::size_t{1} << 20;
// What a streamed decoder asks for at a time (it takes whatever more is in place).
inline constexpr std::size_t kStreamChunk = std::size_t{64} << 10;

// The value a receiving thread decodes while its sender may still write it: bytes [begin,
// end), of which the first `*written` are in place (a word in shared memory, advanced by
// the sender with release stores; read as hostile: anything beyond `end` counts as `end`).
struct InboundStream {
  const std::byte* begin = nullptr;
  const std::byte* end = nullptr;
  const std::atomic<std::uint64_t>* written = nullptr;
  // True when the sender can no longer write (it died): the wait gives up.
  bool (*sender_gone)(const void* context) noexcept = nullptr;
  const void* context = nullptr;
  // The wait also gives up when `*written` has not moved for this long (0: never): for a
  // receiver that must not wait for a stopped sender for ever.
  std::chrono::milliseconds stall_limit{0};
};
// The stream this thread is decoding, if any (set by the receiver around the decode).
inline thread_local const InboundStream* t_inbound = nullptr;

// Installs `stream` (null: none) as this thread's inbound stream for the scope.
class InboundScope {
 public:
  explicit InboundScope(const InboundStream* stream) noexcept { t_inbound = stream; }
  ~InboundScope() { t_inbound = nullptr; }
  InboundScope(const InboundScope&) = delete;
  InboundScope& operator=(const InboundScope&) = delete;
};

// What the wait throws when the sender can no longer write: the value is incomplete.
class SenderGone final : public DecodeError {
 public:
  using DecodeError::DecodeError;
};

// How many bytes from `from` (inside [from, last)) may be read now: last - from when no
// stream is installed or `from` lies outside it; else at least min(want, last - from),
// waiting for the sender as needed. Throws SenderGone when the sender is gone first, and
// DecodeError when it wrote nothing more for the stream's stall_limit.
[[nodiscard]] std::size_t readable_from(const std::byte* from, const std::byte* last,
                                        std::size_t want);

}  // namespace ringpool::pool::detail
